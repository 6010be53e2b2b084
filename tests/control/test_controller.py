"""PoseController: fly composes key deltas; walk yaws about the world vertical, clamps pitch, never rolls."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.control import KeyStepConfig, PoseController, key_delta, ypr_angles, ypr_matrix
from loci.geometry import make_pose, rotation_distance

COMBOS = ["W", "S", "A", "D", "Q", "E", "R", "F", "WQ", "WE", "SQ", "DR", "AF", "WR", "QR", "."]
key_seqs = st.lists(st.sampled_from(COMBOS), max_size=30)


def _roll_free(pose: torch.Tensor) -> bool:
    """A camera has no roll when its x axis is horizontal (world y component 0)."""
    return abs(float(pose[1, 0])) < 1e-5


@given(key_seqs)
def test_fly_is_the_product_of_key_deltas(seq):
    ctl = PoseController(mode="fly")
    expected = torch.eye(4, dtype=torch.float64)
    for k in seq:
        ctl.step(k)
        expected = expected @ key_delta(k).double()
    assert torch.allclose(ctl.pose.double(), expected, atol=1e-5)


@given(key_seqs)
def test_walk_never_rolls_and_clamps_pitch(seq):
    cfg = KeyStepConfig(pitch_deg=15.0, max_pitch_deg=40.0)
    ctl = PoseController(cfg, mode="walk")
    for k in seq:
        pose = ctl.step(k)
        assert _roll_free(pose)
        _, pitch, roll = ypr_angles(pose[:3, :3])
        assert abs(roll) < 1e-5
        assert abs(math.degrees(pitch)) <= 40.0 + 1e-4
        assert abs(ctl.pitch_deg) <= 40.0 + 1e-9
        assert float(pose[1, 3]) == 0.0  # walking never changes height, even with "WR"


@given(st.lists(st.sampled_from(["W", "S", "A", "D", "Q", "E", "WQ", "WE", "SQ", "."]), max_size=30))
def test_walk_equals_fly_while_level(seq):
    fly, walk = PoseController(mode="fly"), PoseController(mode="walk")
    for k in seq:
        assert torch.allclose(fly.step(k), walk.step(k), atol=1e-5)


def test_pitch_clamps_exactly():
    cfg = KeyStepConfig(pitch_deg=7.0, max_pitch_deg=50.0)
    ctl = PoseController(cfg, mode="walk")
    for _ in range(20):
        ctl.step("R")
    assert ctl.pitch_deg == pytest.approx(50.0)
    assert math.degrees(ypr_angles(ctl.pose[:3, :3])[1]) == pytest.approx(50.0, abs=1e-4)
    for _ in range(40):
        ctl.step("F")
    assert ctl.pitch_deg == pytest.approx(-50.0)
    assert ctl.would_clamp("F") and not ctl.would_clamp("R")


def test_walk_forward_stays_horizontal_when_pitched_and_fly_does_not():
    cfg = KeyStepConfig(move_m=0.5, pitch_deg=20.0)
    walk, fly = PoseController(cfg, mode="walk"), PoseController(cfg, mode="fly")
    for ctl in (walk, fly):
        ctl.step("R")
    w0, f0 = walk.pose, fly.pose
    w1, f1 = walk.step("W"), fly.step("W")
    dw, df = w1[:3, 3] - w0[:3, 3], f1[:3, 3] - f0[:3, 3]
    assert float(dw[1]) == pytest.approx(0.0, abs=1e-6)
    assert float(dw.norm()) == pytest.approx(0.5, rel=1e-5)
    assert float(df[1]) == pytest.approx(-0.5 * math.sin(math.radians(20)), abs=1e-5)  # fly climbs (up = -y)
    assert not torch.allclose(w1, f1, atol=1e-3)
    # strafing is horizontal in both, but walk also stays horizontal after a yaw while pitched
    walk.step("Q")
    a, b = walk.pose, walk.step("A")
    assert float((b - a)[1, 3]) == pytest.approx(0.0, abs=1e-6)


def test_fly_rolls_when_turning_pitched_and_walk_does_not():
    cfg = KeyStepConfig(turn_deg=30.0, pitch_deg=30.0)
    walk, fly = PoseController(cfg, mode="walk"), PoseController(cfg, mode="fly")
    for k in ["R", "Q", "Q", "Q"]:
        walk.step(k)
        fly.step(k)
    assert _roll_free(walk.pose)
    assert not _roll_free(fly.pose)
    assert float(rotation_distance(walk.pose, fly.pose)) > 0.05


def test_walk_yaw_turns_about_world_vertical():
    cfg = KeyStepConfig(turn_deg=90.0)
    ctl = PoseController(cfg, mode="walk")
    ctl.step("Q")  # forward was +z; turning left by 90 faces -x
    assert torch.allclose(ctl.pose[:3, 2], torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6)
    ctl.step("W")
    assert torch.allclose(ctl.pose[:3, 3], torch.tensor([-cfg.move_m, 0.0, 0.0]), atol=1e-6)


def test_walk_start_drops_roll_and_keeps_heading_and_pitch():
    R = ypr_matrix(0.3, 0.2, 0.4)
    start = make_pose(R, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).float()
    ctl = PoseController(KeyStepConfig(), start, "walk")
    yaw, pitch, roll = ypr_angles(ctl.pose[:3, :3])
    assert (yaw, pitch, roll) == pytest.approx((0.3, 0.2, 0.0), abs=1e-5)
    assert torch.equal(ctl.pose[:3, 3], start[:3, 3])
    assert torch.allclose(PoseController(KeyStepConfig(), start, "fly").pose, start)


def test_reset_and_peek():
    start = make_pose(ypr_matrix(0.5, 0.0), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)).float()
    for mode in ("fly", "walk"):
        ctl = PoseController(None, start, mode)
        first = ctl.pose
        peeked = ctl.peek("WQ")
        assert torch.equal(ctl.pose, first)
        assert torch.equal(ctl.step("WQ"), peeked)
        ctl.step("R")
        assert torch.equal(ctl.reset(), first)
        assert torch.equal(ctl.reset(torch.eye(4)), torch.eye(4))
        ctl.step("W")
        assert torch.equal(ctl.reset(), torch.eye(4))


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        PoseController(mode="drive")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        PoseController(start=torch.eye(4).expand(2, 4, 4))
    bad = torch.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(ValueError, match="orthonormal"):
        PoseController(start=bad)
    with pytest.raises(ValueError, match="unknown key"):
        PoseController().step("Z")
