"""Yaw/pitch/roll: the closed form matches the axis product, the decomposition inverts it, signs match keys."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.control import axis_rotation, key_delta, ypr_angles, ypr_matrix

angles = st.tuples(st.floats(-3.1, 3.1), st.floats(-1.5, 1.5), st.floats(-3.1, 3.1))


@given(angles)
def test_closed_form_matches_axis_product(a):
    yaw, pitch, roll = a
    product = axis_rotation(1, yaw) @ axis_rotation(0, pitch) @ axis_rotation(2, roll)
    assert torch.allclose(ypr_matrix(yaw, pitch, roll), product, atol=1e-12)


@given(angles)
def test_decomposition_inverts_the_matrix(a):
    assert ypr_angles(ypr_matrix(*a)) == pytest.approx(a, abs=1e-9)


def test_signs_agree_with_keys():
    yaw, _, _ = ypr_angles(key_delta("E")[:3, :3])
    assert yaw == pytest.approx(math.radians(10.0), abs=1e-6)
    _, pitch, _ = ypr_angles(key_delta("R")[:3, :3])
    assert pitch == pytest.approx(math.radians(5.0), abs=1e-6)
    # roll right: the camera's x axis (right) tips down, i.e. toward +y
    assert float(ypr_matrix(0.0, 0.0, 0.3)[1, 0]) > 0


def test_rejects_non_rotations():
    with pytest.raises(ValueError):
        ypr_angles(torch.eye(3) * 2)
    with pytest.raises(ValueError, match="shape"):
        ypr_angles(torch.eye(3).expand(2, 3, 3))
