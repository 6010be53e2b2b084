# Two set-up commands for a fresh machine (see README):
#   make play   install everything from locks/main.txt, then run the main job on the built-in default world
#   make test   install everything from locks/dev.txt, check the locks, lint and run the whole test-suite
# make lock regenerates the locks on purpose (README, "Dependencies").
PYTHON       ?= python3.11
VENV         ?= .venv
TORCH_WHEELS ?= /opt/wheels
BIN          := $(VENV)/bin
# pip sees only PyPI and the folder (or page) holding torch's CPU wheel, never the machine's pip
# configuration, and installs exactly the hashed pins of a lock: nothing resolves at install time.
PIP          := PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip
PIP_LOCKED   := $(PIP) install --quiet --require-hashes --no-deps \
                --index-url https://pypi.org/simple --find-links $(TORCH_WHEELS)

.PHONY: play test lint lock lock-check lock-upgrade bench install clean

$(VENV)/.created: scripts/install_system.sh
	bash scripts/install_system.sh
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.installed-%: locks/%.txt pyproject.toml $(VENV)/.created
	$(PIP_LOCKED) -r locks/$*.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed-dev

play: $(VENV)/.installed-main
	$(BIN)/loci play

lock-check: $(VENV)/.installed-dev
	$(BIN)/python scripts/lock.py --check --uv $(BIN)/uv --torch-wheels $(TORCH_WHEELS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

test: lock-check lint
	$(BIN)/pytest -q -n 2

lock: $(VENV)/.installed-dev
	$(BIN)/python scripts/lock.py --uv $(BIN)/uv --torch-wheels $(TORCH_WHEELS)

lock-upgrade: $(VENV)/.installed-dev
	$(BIN)/python scripts/lock.py --upgrade --uv $(BIN)/uv --torch-wheels $(TORCH_WHEELS)

bench: $(VENV)/.installed-dev  # README's table and the quick suite (2,145 s on 2026-12-04; README, "Evaluate")
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
