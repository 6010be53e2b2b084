"""Every training config in ``configs/`` and ``configs/experiments/`` loads into its typed config (a typo'd key fails here, not an
hour into a run), and a config with an unknown key is refused with the key named."""

import json
from pathlib import Path

import pytest

from loci.training.depth import load_depth_config
from loci.training.light import load_light_config
from loci.training.student import load_student_config
from loci.training.tokenizer import load_train_config
from loci.training.world import load_world_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
LOADERS = {
    "tokenizer": load_train_config,
    "world": load_world_config,
    "depth": load_depth_config,
    "light": load_light_config,
    "student": load_student_config,
}


def _loader(path: Path):
    return LOADERS[path.stem.split("_")[0]]


TRAINING = sorted(CONFIGS.glob("*.json")) + sorted((CONFIGS / "experiments").glob("*.json"))


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_shipped_config_loads(path):
    cfg = _loader(path)(str(path))
    raw = json.loads(path.read_text())
    for key, value in raw.items():  # nothing is dropped or renamed on the way in
        if isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value):
            assert getattr(cfg, key) == tuple(value), key  # lists come in as tuples
        elif not isinstance(value, (dict, list)):
            assert getattr(cfg, key) == value, key


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_unknown_key_is_named(kind, tmp_path):
    path = next(p for p in TRAINING if p.stem.split("_")[0] == kind)
    bad = json.loads(path.read_text()) | {"learning_rat": 0.1}
    out = tmp_path / path.name
    out.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="learning_rat"):
        _loader(path)(str(out))


def test_data_dirs_may_be_one_or_several(tmp_path):
    raw = json.loads((CONFIGS / "experiments" / "world_memory.json").read_text())
    out = tmp_path / "world_mixed.json"
    out.write_text(json.dumps(raw | {"data_dir": ["data/a", "data/b"], "eval_dir": ["data/c"]}))
    cfg = load_world_config(str(out))
    assert cfg.data_dir == ("data/a", "data/b") and cfg.eval_dir == ("data/c",)
    assert load_world_config(str(CONFIGS / "experiments" / "world_memory.json")).data_dir == raw["data_dir"]
