"""Distance light falloff: closed-form gains, its file format, and the point memory re-lighting what it
remembers for the distance it is shown at."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from loci.geometry import SyntheticScene, intrinsics_from_fov, make_pose, render
from loci.memory import LightFalloff, PointMemory, frame_strength, load_light_falloff
from loci.training.light import save_light_falloff

KNOTS = torch.log(torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]))
LOG_B = torch.tensor([0.0, 0.0, -0.2, -0.5, -0.8, -0.9])
LIGHT = LightFalloff(KNOTS, LOG_B, "test")
depths = st.floats(0.05, 100.0, allow_nan=False)


def test_log_brightness_is_numpy_interp_in_log_depth_and_constant_beyond_the_knots():
    d = torch.tensor([0.1, 0.5, 0.7, 1.0, 3.0, 5.5, 16.0, 90.0])
    want = np.interp(np.log(d.numpy()), KNOTS.numpy(), LOG_B.numpy())  # np.interp clamps at the ends
    np.testing.assert_allclose(LIGHT.log_b(d).numpy(), want, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(depths, depths, depths)
def test_gains_compose_and_invert(a, b, c):
    a, b, c = torch.tensor(a), torch.tensor(b), torch.tensor(c)
    torch.testing.assert_close(LIGHT.gain(a, a), torch.tensor(1.0))
    torch.testing.assert_close(LIGHT.gain(a, b) * LIGHT.gain(b, c), LIGHT.gain(a, c), rtol=1e-5, atol=0)
    torch.testing.assert_close(LIGHT.gain(a, b) * LIGHT.gain(b, a), torch.tensor(1.0), rtol=1e-5, atol=0)


def test_unknown_depth_keeps_the_colour():
    g = LIGHT.gain(torch.tensor([0.0, 4.0, 0.0]), torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(g, torch.ones(3))


@pytest.mark.parametrize(
    "knots, log_b, message",
    [
        (torch.tensor([0.0, 0.0, 1.0]), torch.zeros(3), "increase strictly"),
        (torch.tensor([0.0, 1.0]), torch.tensor([0.0, float("nan")]), "finite"),
        (torch.tensor([0.0, 1.0, 2.0]), torch.zeros(2), "equal shape"),
        (torch.tensor([0.0]), torch.zeros(1), "n >= 2"),
    ],
)
def test_bad_falloffs_are_refused(knots, log_b, message):
    with pytest.raises(ValueError, match=message):
        LightFalloff(knots, log_b)


def test_files_round_trip_and_bad_files_are_named(tmp_path):
    path = save_light_falloff(LIGHT, tmp_path / "light.safetensors")
    back = load_light_falloff(path)
    assert back.name == "test"
    torch.testing.assert_close(back.log_depth, LIGHT.log_depth)
    torch.testing.assert_close(back.log_brightness, LIGHT.log_brightness)
    with pytest.raises(ValueError, match="no light falloff"):
        load_light_falloff(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_light_falloff(tmp_path / "junk.safetensors")
    save_file({"log_depth": KNOTS}, str(tmp_path / "foreign.safetensors"), metadata={"format": "other"})
    with pytest.raises(ValueError, match="not a loci light falloff"):
        load_light_falloff(tmp_path / "foreign.safetensors")
    save_file(
        {"log_depth": KNOTS}, str(tmp_path / "part.safetensors"), metadata={"format": "loci.light_falloff"}
    )
    with pytest.raises(ValueError, match="lacks"):
        load_light_falloff(tmp_path / "part.safetensors")
    save_file(
        {"log_depth": KNOTS.flip(0), "log_brightness": LOG_B},
        str(tmp_path / "bad.safetensors"),
        metadata={"format": "loci.light_falloff"},
    )
    with pytest.raises(ValueError, match=r"bad\.safetensors.*increase strictly"):
        load_light_falloff(tmp_path / "bad.safetensors")


SIZE = (24, 32)
K = intrinsics_from_fov(SIZE, fov_x_deg=90)


def _wall(mem: PointMemory, colour: float, at: float) -> None:
    """A fronto-parallel wall of one colour, ``at`` metres in front of the identity camera."""
    rgb = torch.full((3, *SIZE), colour)
    mem.insert(rgb, torch.full(SIZE, at), K, torch.eye(4))


def test_memory_relights_a_wall_for_the_distance_it_is_shown_at():
    mem, plain = PointMemory(light=LIGHT), PointMemory()
    for m in (mem, plain):
        _wall(m, 0.2, at=8.0)
    closer = make_pose(torch.eye(3), torch.tensor([0.0, 0.0, 6.0]))  # 2 m from the wall
    want = 0.2 * math.exp(float(LIGHT.log_b(torch.tensor(2.0)) - LIGHT.log_b(torch.tensor(8.0))))
    lit = mem.render(K, closer, SIZE)
    assert bool(lit.mask.all()) and want > 0.2 * 1.5
    torch.testing.assert_close(lit.features, torch.full_like(lit.features, want), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(plain.render(K, closer, SIZE).features, torch.full((3, *SIZE), 0.2))
    torch.testing.assert_close(mem.render(K, torch.eye(4), SIZE).features, torch.full((3, *SIZE), 0.2))
    bright = PointMemory(light=LIGHT)
    _wall(bright, 0.9, at=8.0)
    assert float(bright.render(K, closer, SIZE).features.max()) == 1.0  # colours stay in [0, 1]


def test_seen_depth_is_saved_and_old_saves_load_unlit():
    mem = PointMemory(light=LIGHT)
    _wall(mem, 0.2, at=8.0)
    state = mem.state_dict()
    torch.testing.assert_close(state["seen_depth"], torch.full((SIZE[0] * SIZE[1],), 8.0))
    closer = make_pose(torch.eye(3), torch.tensor([0.0, 0.0, 6.0]))
    again = PointMemory(light=LIGHT)
    again.load_state_dict(state)
    torch.testing.assert_close(again.render(K, closer, SIZE).features, mem.render(K, closer, SIZE).features)
    old = PointMemory(light=LIGHT)
    old.load_state_dict({k: v for k, v in state.items() if k != "seen_depth"})
    torch.testing.assert_close(old.render(K, closer, SIZE).features, torch.full((3, *SIZE), 0.2))
    state["seen_depth"] = -state["seen_depth"]
    with pytest.raises(ValueError, match="seen_depth"):
        PointMemory().load_state_dict(state)


def test_light_needs_rgb_features():
    with pytest.raises(ValueError, match="3 channels"):
        PointMemory(channels=16, light=LIGHT)


def test_frame_strength_measures_how_steeply_a_frame_dims_with_depth():
    """A synthetic-room view re-lit by ``b(d)^a`` measures ``a`` more than the view itself (whose
    colours owe nothing to distance); a flat frame and a frame without depth measure 0."""
    size = (60, 80)
    view = render(
        SyntheticScene(),
        intrinsics_from_fov(size, fov_x_deg=90),
        make_pose(torch.eye(3), torch.tensor([0.0, 0.0, -1.5])),
        size,
    )
    rgb, depth = view.rgb.permute(1, 2, 0) * 255, view.depth
    base = frame_strength(rgb.round().to(torch.uint8), depth, LIGHT)
    for a in (0.5, 1.0):
        relit = (rgb * torch.exp(a * LIGHT.log_b(depth))[..., None]).round().clamp(0, 255).to(torch.uint8)
        assert frame_strength(relit, depth, LIGHT) - base == pytest.approx(a, abs=0.1)
    assert frame_strength(torch.full((*size, 3), 120, dtype=torch.uint8), depth, LIGHT) == pytest.approx(
        0, abs=1e-6
    )
    assert frame_strength(rgb.to(torch.uint8), torch.zeros(size), LIGHT) == 0.0
    torch.testing.assert_close(LIGHT.scaled(0.5).log_brightness, LOG_B * 0.5)
