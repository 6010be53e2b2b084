"""SE(3)/SO(3): round trips (hypothesis), agreement with OpenCV's Rodrigues, closed-form cases."""

import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.geometry import (
    check_pose,
    compose,
    interpolate,
    invert,
    look_at,
    make_pose,
    relative_pose,
    rotation_angle,
    rotation_distance,
    se3_exp,
    se3_log,
    so3_exp,
    so3_log,
    translation_distance,
)
from tests.geometry.strategies import poses, rotation_vectors


@given(rotation_vectors())
def test_so3_exp_matches_opencv_rodrigues(omega):
    R_cv, _ = cv2.Rodrigues(omega.numpy())
    np.testing.assert_allclose(so3_exp(omega).numpy(), R_cv, atol=1e-9)


@given(poses())
def test_so3_log_matches_opencv_rodrigues(T):
    rvec, _ = cv2.Rodrigues(T[:3, :3].numpy())
    np.testing.assert_allclose(so3_log(T[:3, :3]).numpy(), rvec[:, 0], atol=1e-6)


@given(rotation_vectors())
def test_so3_log_inverts_exp(omega):
    torch.testing.assert_close(so3_log(so3_exp(omega)), omega, atol=1e-8, rtol=0)


@given(poses())
def test_se3_exp_inverts_log(T):
    torch.testing.assert_close(se3_exp(se3_log(T)), T, atol=1e-9, rtol=0)


def test_log_near_pi_and_zero_is_stable():
    for angle in (0.0, 1e-9, 1e-5, math.pi - 1e-7, math.pi):
        omega = torch.tensor([0.0, angle, 0.0], dtype=torch.float64)
        back = so3_log(so3_exp(omega))
        assert float(back.norm()) == pytest.approx(angle, abs=1e-6)
        assert float(rotation_angle(so3_exp(omega))) == pytest.approx(angle, abs=1e-6)


def test_se3_exp_is_a_screw_motion_closed_form():
    # A pure translation twist is a translation; a pure rotation about y is the y rotation.
    T = se3_exp(torch.tensor([1.0, 2.0, 3.0, 0, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(T[:3, 3], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    a = 0.3
    R = so3_exp(torch.tensor([0.0, a, 0.0], dtype=torch.float64))
    expect = torch.tensor(
        [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float64
    )
    torch.testing.assert_close(R, expect)


@given(poses(), poses())
def test_invert_compose_relative(a, b):
    eye = torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(compose(a, invert(a)), eye, atol=1e-9, rtol=0)
    torch.testing.assert_close(compose(a, relative_pose(a, b)), b, atol=1e-9, rtol=0)
    torch.testing.assert_close(invert(a), torch.linalg.inv(a), atol=1e-9, rtol=0)


@given(poses(), poses(), st.floats(0.0, 1.0))
def test_interpolate_endpoints_and_geodesic_split(a, b, t):
    torch.testing.assert_close(interpolate(a, b, 0.0), a, atol=1e-9, rtol=0)
    torch.testing.assert_close(interpolate(a, b, 1.0), b, atol=1e-7, rtol=0)
    mid = interpolate(a, b, t)
    check_pose(mid)
    total = float(rotation_distance(a, b))
    assert float(rotation_distance(a, mid)) == pytest.approx(t * total, abs=1e-6)
    assert float(translation_distance(a, mid)) == pytest.approx(
        t * float(translation_distance(a, b)), abs=1e-9
    )


def test_batched_broadcasting():
    a = se3_exp(torch.randn(5, 1, 6, dtype=torch.float64) * 0.5)
    b = se3_exp(torch.randn(1, 4, 6, dtype=torch.float64) * 0.5)
    rel = relative_pose(a, b)
    assert rel.shape == (5, 4, 4, 4)
    torch.testing.assert_close(a @ rel, b.expand(5, 4, 4, 4), atol=1e-9, rtol=0)
    assert rotation_distance(a, b).shape == (5, 4)


def test_look_at_opencv_frame():
    eye = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    target = torch.tensor([3.0, -0.5, 5.0], dtype=torch.float64)
    T = look_at(eye, target)
    check_pose(T)
    z = T[:3, 2]
    torch.testing.assert_close(z, (target - eye) / (target - eye).norm())
    assert float(T[1, 1]) > 0.99  # camera y (down) is world y (down) for a level camera
    torch.testing.assert_close(T[:3, 3], eye)
    with pytest.raises(ValueError, match="parallel"):
        look_at(eye, eye + torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        so3_exp(torch.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        invert(torch.eye(3))
    bad = torch.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(ValueError, match="orthonormal"):
        check_pose(bad)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="reflection"):
        check_pose(mirror)
    nan = torch.eye(4)
    nan[0, 3] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        check_pose(nan)
    with pytest.raises(TypeError):
        invert(np.eye(4))
    last = make_pose(torch.eye(3), torch.zeros(3))
    last[3, 0] = 1.0
    with pytest.raises(ValueError, match="last row"):
        check_pose(last)
