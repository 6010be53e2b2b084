"""Planning a move without making it: ``plan``/``plan_pose`` leave the controller as it was, and
``apply`` of a plan is exactly ``step``/``set_pose`` (the session computes each step's pose once)."""

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loci.control import KeyStepConfig, PoseController
from tests.geometry.strategies import poses

keys = st.sampled_from(["W", "S", "A", "D", "Q", "E", "R", "F", "WQ", "RRR", "WAR", ".", "SDF"])


@pytest.mark.parametrize("mode", ["walk", "fly"])
@settings(max_examples=40, deadline=None)
@given(steps=st.lists(keys, min_size=1, max_size=12))
@example(steps=["R"] * 40)  # past the walk-mode pitch limit: clamped
def test_apply_of_a_plan_is_step(mode, steps):
    cfg = KeyStepConfig(move_m=0.3, turn_deg=7.0, pitch_deg=5.0)
    a, b = PoseController(cfg, mode=mode), PoseController(cfg, mode=mode)
    for k in steps:
        before = b.state().clone()
        planned = b.plan(k)
        torch.testing.assert_close(b.state(), before, rtol=0, atol=0)  # planning moved nothing
        torch.testing.assert_close(b.peek(k), planned.pose, rtol=0, atol=0)
        torch.testing.assert_close(b.apply(planned), a.step(k), rtol=0, atol=0)
        torch.testing.assert_close(b.state(), a.state(), rtol=0, atol=0)


@settings(max_examples=40, deadline=None)
@given(target=poses(max_angle=math.pi / 2))
def test_plan_pose_is_set_pose(target):
    a, b = PoseController(mode="walk"), PoseController(mode="walk")
    planned = b.plan_pose(target)
    torch.testing.assert_close(b.state(), a.state(), rtol=0, atol=0)
    torch.testing.assert_close(b.apply(planned), a.set_pose(target), rtol=0, atol=0)
    torch.testing.assert_close(b.state(), a.state(), rtol=0, atol=0)


def test_plan_pose_refuses_a_bad_pose():
    with pytest.raises(ValueError):
        PoseController().plan_pose(torch.full((4, 4), float("nan")))
