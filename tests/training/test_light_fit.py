"""Fitting the distance light falloff recovers a known one: synthetic-room episodes (exact depth and
poses, view-independent shading) re-lit by ``b(d) = d^-0.4`` give back that power law."""

import math

import numpy as np
import pytest
import torch

from loci.data.episode import list_episodes
from loci.data.generate import generate
from loci.memory import load_light_falloff
from loci.training.light import LightFitConfig, fit_light_falloff, train_light

EXPONENT = -0.4


@pytest.fixture(scope="module")
def relit(tmp_path_factory):
    out = tmp_path_factory.mktemp("light")
    generate(
        "synthetic",
        ["room"],
        4,
        24,
        out,
        policy="mix",
        workers=1,
        engine_overrides={"size": (60, 80)},
        progress=False,
    )
    for path in list_episodes(out):
        rgb = np.load(path / "rgb.npy").astype(np.float32)
        depth = np.load(path / "depth.npy").astype(np.float32)
        b = np.where(depth > 0, np.maximum(depth, 1e-3) ** EXPONENT, 1.0)
        np.save(path / "rgb.npy", np.clip(rgb * b[..., None], 0, 255).round().astype(np.uint8))
    return out


def test_the_fit_recovers_a_power_law_falloff(relit, tmp_path):
    cfg = LightFitConfig(
        data_dir=str(relit),
        out=str(tmp_path / "light.safetensors"),
        name="relit room",
        min_depth_m=0.7,
        max_depth_m=5.0,
        knots=6,
        pairs_per_episode=16,
        max_gap=12,
        progress=False,
    )
    light, report = fit_light_falloff(cfg)
    assert report["median_abs_residual"] < 0.25 * report["median_abs_ratio"]
    want = EXPONENT * (light.log_depth - light.log_depth[0])  # log b relative to the nearest knot
    np.testing.assert_allclose(light.log_brightness.numpy(), want.numpy(), atol=0.03)
    # a surface seen at 4 m shows 4^0.4 = 1.74x brighter from 1 m
    assert math.isclose(float(light.gain(torch.tensor(4.0), torch.tensor(1.0))), 4**0.4, rel_tol=0.03)
    path = train_light(cfg)
    assert load_light_falloff(path).name == "relit room"


def test_too_little_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no episodes"):
        fit_light_falloff(LightFitConfig(data_dir=str(tmp_path), out=str(tmp_path / "x.safetensors")))


def test_configs_are_checked():
    with pytest.raises(ValueError, match="min_depth_m"):
        LightFitConfig(data_dir="d", out="o", min_depth_m=5.0, max_depth_m=1.0)
