# Two set-up commands for a fresh machine (see README):
#   make play   install everything, then run the main job on the built-in default world
#   make test   install everything, then lint and run the whole test-suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: play test lint bench install clean

$(STAMP): pyproject.toml scripts/install_system.sh
	bash scripts/install_system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

play: $(STAMP)
	$(BIN)/loci play

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

test: lint
	$(BIN)/pytest -q -n 2

bench: $(STAMP)  # every benchmark of BENCHMARKS.md (about 10 minutes on 2 cores)
	$(BIN)/python benchmarks/geometry.py
	$(BIN)/python benchmarks/world.py --steps 200
	$(BIN)/python benchmarks/player.py --threads 1,0
	$(BIN)/python benchmarks/data_generation.py --engine vizdoom --workers 1 2 --episodes 8 --frames 500
	$(BIN)/python benchmarks/data_generation.py --engine miniworld --workers 1 2 --episodes 4 --frames 250
	$(BIN)/python benchmarks/camera_check.py --engine vizdoom --starts 3
	$(BIN)/python benchmarks/camera_check.py --engine miniworld --starts 3
	$(BIN)/python benchmarks/tokenizer.py
	$(BIN)/python benchmarks/dit.py
	$(BIN)/loci bench --quick

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache .hypothesis
