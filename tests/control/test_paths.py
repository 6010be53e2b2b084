"""Trajectory generators: straight, pan, orbit, from_keys, loop_back, random_walk."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loci.control import (
    KeyStepConfig,
    PoseController,
    RandomWalkConfig,
    from_keys,
    loop_back,
    orbit,
    pan,
    random_walk,
    straight,
    ypr_matrix,
)
from loci.geometry import intrinsics_from_fov, make_pose, project, rotation_distance, translation_distance

START = make_pose(ypr_matrix(0.4, 0.1), torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)).float()
K = intrinsics_from_fov((240, 320), fov_x_deg=90.0)


def test_straight():
    t = straight(START, 5, 0.3, "left")
    assert len(t) == 6 and len(t.actions) == 5 and t.actions[0] == "strafe left 0.30 m"
    for k in range(6):
        assert float(translation_distance(t.poses[0], t.poses[k])) == pytest.approx(0.3 * k, abs=1e-5)
        assert float(rotation_distance(t.poses[0], t.poses[k])) < 1e-6
    # "left" is -x of the start camera
    assert torch.allclose(t.poses[1, :3, 3] - t.poses[0, :3, 3], -0.3 * START[:3, 0], atol=1e-6)
    assert len(straight(None, 0, 1.0)) == 1
    with pytest.raises(ValueError, match="direction"):
        straight(None, 3, 1.0, "sideways")
    with pytest.raises(ValueError, match="n must"):
        straight(None, -1, 1.0)


PAN_LABELS = [("yaw", "turn right"), ("pitch", "look up"), ("roll", "roll right")]


@pytest.mark.parametrize(("axis", "label"), PAN_LABELS)
def test_pan(axis, label):
    t = pan(START, 4, 60.0, axis)
    assert len(t) == 5 and t.actions[0] == f"{label} 15 degrees"
    for k in range(5):
        angle = math.degrees(float(rotation_distance(t.poses[0], t.poses[k])))
        assert angle == pytest.approx(15 * k, abs=1e-3)
        assert float(translation_distance(t.poses[0], t.poses[k])) < 1e-6
    with pytest.raises(ValueError, match="axis"):
        pan(None, 4, 60.0, "spin")


@pytest.mark.parametrize("height", [0.0, 1.5, -0.7])
def test_orbit_keeps_distance_and_looks_at_centre(height):
    c = torch.tensor([0.5, 0.2, 4.0])
    t = orbit(c, 2.0, 12, height=height, K=K)
    assert len(t) == 12 and len(t.actions) == 11
    eyes = t.poses[:, :3, 3]
    horizontal = (eyes - c)[:, [0, 2]].norm(dim=-1)
    assert torch.allclose(horizontal, torch.full((12,), 2.0), atol=1e-5)
    assert torch.allclose(eyes[:, 1], torch.full((12,), 0.2 - height), atol=1e-6)  # up is -y
    assert torch.allclose(eyes[0], c + torch.tensor([0.0, -height, -2.0]), atol=1e-6)
    uv, z = project(c[None].expand(12, 1, 3), K, t.poses)
    assert torch.allclose(uv[:, 0], torch.tensor([160.0, 120.0]).expand(12, 2), atol=1e-3)
    assert bool((z > 0).all())
    assert torch.allclose(t.poses[:, 1, 0], torch.zeros(12), atol=1e-6)  # no roll
    assert float(eyes[1, 0]) > float(eyes[0, 0])  # moves to the first camera's right


def test_orbit_along_the_path():
    t = orbit([0.0, 0.0, 0.0], 3.0, 8, look_at_center=False)
    radial = t.poses[:, :3, 3] / 3.0
    forward = t.poses[:, :3, 2]
    assert torch.allclose((radial * forward).sum(-1), torch.zeros(8), atol=1e-6)
    with pytest.raises(ValueError, match="radius"):
        orbit([0.0, 0.0, 0.0], 0.0, 8)
    with pytest.raises(ValueError, match="center"):
        orbit([0.0, 0.0], 1.0, 8)


def test_from_keys_is_the_controller_path():
    cfg = KeyStepConfig(move_m=0.5, turn_deg=15.0)
    for mode in ("fly", "walk"):
        t = from_keys(START, "WWWWQQDDRr.", cfg, mode)
        assert len(t) == 12 and t.actions == list("WWWWQQDDRR.")
        ctl = PoseController(cfg, START, mode)
        for i, k in enumerate("WWWWQQDDRr."):
            assert torch.equal(ctl.step(k), t.poses[i + 1])
    combos = from_keys(None, ["wq", "W", ""], cfg)
    assert len(combos) == 4 and combos.actions == ["WQ", "W", "."]
    with pytest.raises(ValueError, match="unknown key"):
        from_keys(None, "WX")


LOOP_KEYS = ["W", "S", "A", "D", "Q", "E", "R", "F", "WQ", "DR", "SE", "."]


@given(st.lists(st.sampled_from(LOOP_KEYS), max_size=20))
def test_loop_back_returns_and_mirrors(keys):
    for mode in ("fly", "walk"):
        try:
            t = loop_back(START, keys, KeyStepConfig(pitch_deg=10.0, max_pitch_deg=45.0), mode)
        except ValueError as e:  # only a walk that would clamp its pitch may refuse
            assert mode == "walk" and "pitch limit" in str(e)
            continue
        n = len(keys)
        assert len(t) == 2 * n + 1 and len(t.actions) == 2 * n
        assert torch.allclose(t.poses[-1], t.poses[0], atol=1e-5)
        assert torch.allclose(t.poses.flip(0), t.poses, atol=1e-5)
        if mode == "fly":
            assert torch.allclose(t.poses[0], START, atol=1e-6)


def test_loop_back_actions_and_pitch_limit():
    t = loop_back(None, ["WQ", "R", "D"])
    assert t.actions == ["WQ", "R", "D", "A", "F", "SE"]
    with pytest.raises(ValueError, match="pitch limit"):
        loop_back(None, "R" * 20, KeyStepConfig(pitch_deg=10.0, max_pitch_deg=45.0), "walk")
    assert len(loop_back(None, "R" * 20, KeyStepConfig(pitch_deg=10.0), "fly")) == 41
    # reaching the limit exactly (up to rounding) is not clamping: the loop still closes
    edge = loop_back(None, "R" * 12, KeyStepConfig(pitch_deg=5.0, max_pitch_deg=60.0), "walk")
    assert torch.allclose(edge.poses[-1], edge.poses[0], atol=1e-6)


def test_random_walk_is_reproducible_and_seeded():
    a, b = random_walk(START, 60, seed=7), random_walk(START, 60, seed=7)
    c = random_walk(START, 60, seed=8)
    assert torch.equal(a.poses, b.poses) and a.actions == b.actions
    assert not torch.equal(a.poses, c.poses)
    assert len(a) == 61 and len(a.actions) == 60
    assert torch.allclose(a.poses[:, 1, 0], torch.zeros(61), atol=1e-6)  # walk mode: no roll


def _changes(actions: list[str]) -> int:
    return sum(x != y for x, y in itertools.pairwise(actions))


def test_random_walk_persists_instead_of_jittering():
    t = random_walk(None, 400, seed=1)
    changes = _changes(t.actions)
    assert changes < 0.3 * 399
    moved = float(translation_distance(t.poses[0], t.poses).max())
    assert moved > 10 * KeyStepConfig().move_m
    jitter = random_walk(None, 400, seed=1, walk=RandomWalkConfig(persistence=0.0))
    assert _changes(jitter.actions) > changes


@settings(max_examples=15)
@given(st.integers(0, 10_000))
def test_random_walk_stays_in_bounds(seed):
    bounds = ((-1.0, 2.0), (0.0, 1.5))
    for mode in ("walk", "fly"):
        t = random_walk(None, 150, KeyStepConfig(move_m=0.3), seed, bounds=bounds, mode=mode)
        x, z = t.poses[:, 0, 3], t.poses[:, 2, 3]
        assert bool(((x >= -1.0) & (x <= 2.0) & (z >= 0.0) & (z <= 1.5)).all())


def test_random_walk_errors():
    with pytest.raises(ValueError, match="outside bounds"):
        random_walk(None, 10, bounds=((1.0, 2.0), (1.0, 2.0)))
    with pytest.raises(ValueError, match="min < max"):
        random_walk(None, 10, bounds=((1.0, -1.0), (-1.0, 1.0)))
    with pytest.raises(ValueError, match="bounds must be"):
        random_walk(None, 10, bounds=(1.0, 2.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown key"):
        RandomWalkConfig(choices=(("WX", 1.0),))
    with pytest.raises(ValueError, match="persistence"):
        RandomWalkConfig(persistence=1.0)
