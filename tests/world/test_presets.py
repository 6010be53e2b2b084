"""World presets: shipped as typed JSON, chosen by engine or by name, a typo named, and what they
hold is what a session runs with."""

import dataclasses
import json

import numpy as np
import pytest

from loci.world import World, WorldConfig, load_preset, preset_names
from loci.world.preset import PRESETS_DIR, preset_for
from tests.world.test_world import synthetic_start


def test_every_shipped_preset_loads_completely():
    assert set(preset_names()) == {"image", "miniworld", "vizdoom"}
    for name in preset_names():
        preset = load_preset(name)
        raw = json.loads((PRESETS_DIR / f"{name}.json").read_text())
        assert preset.name == name
        assert dataclasses.asdict(preset.sampling) == raw["sampling"]  # nothing dropped on the way in


def test_the_engine_picks_the_preset():
    assert preset_for("vizdoom") == "vizdoom" and preset_for("miniworld") == "miniworld"
    assert preset_for(None) == "image" and preset_for("synthetic") == "image"
    assert load_preset("miniworld").sampling != load_preset("vizdoom").sampling


def test_unknown_presets_and_fields_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown world preset 'doom'; shipped: image, miniworld, vizdoom"):
        load_preset("doom")
    raw = json.loads((PRESETS_DIR / "vizdoom.json").read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw | {"sampling": raw["sampling"] | {"hole_blnd": 0.5}}))
    with pytest.raises(ValueError, match="hole_blnd"):
        load_preset(str(bad))
    band = tmp_path / "band.json"
    band.write_text(json.dumps(raw | {"collision": raw["collision"] | {"rows": [0.7, 0.2]}}))
    with pytest.raises(ValueError, match="rows"):
        load_preset(str(band))


def test_a_preset_file_drives_the_session(tmp_path):
    """A collision band moved off the wall ahead lets the walk through: the band is read from the preset."""
    raw = json.loads((PRESETS_DIR / "image.json").read_text())
    rgb, depth, K = synthetic_start()
    shipped = World(WorldConfig()).start(rgb, depth, K)
    assert shipped.preset.name == "image"
    sky = tmp_path / "sky.json"  # a band of no pixels: nothing ahead, no collision
    sky.write_text(
        json.dumps(
            raw | {"name": "sky", "collision": {"rows": [0.0, 0.01], "cols": [0.0, 0.01], "percentile": 10}}
        )
    )
    custom = World(WorldConfig(preset=str(sky))).start(rgb, depth, K)
    assert custom.preset.name == "sky"
    for _ in range(60):
        shipped.step("W")
        custom.step("W")
    assert custom.frame.pose[2, 3] > shipped.frame.pose[2, 3] + 1
    assert np.isfinite(custom.frame.depth).all()
