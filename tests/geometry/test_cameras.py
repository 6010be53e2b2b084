"""Intrinsics, projection and rays against OpenCV and closed forms; raymap ↔ camera round trip."""

import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given

from loci.geometry import (
    camera_from_raymap,
    camera_rays,
    fov_from_intrinsics,
    identity_pose,
    intrinsics_from_fov,
    invert,
    pitch_shear_shift,
    pixel_centers,
    plucker,
    project,
    raymap,
    rescale_intrinsics,
    shift_principal_point,
    so3_log,
    unproject,
)
from tests.geometry.strategies import intrinsics, poses

SIZE = (24, 32)


def test_intrinsics_from_fov_closed_form():
    K = intrinsics_from_fov((120, 160), fov_x_deg=90)
    assert float(K[0, 0]) == pytest.approx(80.0)
    assert float(K[1, 1]) == pytest.approx(80.0)
    assert (float(K[0, 2]), float(K[1, 2])) == (80.0, 60.0)
    fx, fy = fov_from_intrinsics(K, (120, 160))
    assert float(fx) == pytest.approx(90.0)
    assert float(fy) == pytest.approx(math.degrees(2 * math.atan(60 / 80)), rel=1e-6)
    K2 = intrinsics_from_fov((120, 160), fov_x_deg=90, fov_y_deg=60)
    assert float(K2[1, 1]) == pytest.approx(60 / math.tan(math.radians(30)))
    with pytest.raises(ValueError, match="fov"):
        intrinsics_from_fov((120, 160))
    with pytest.raises(ValueError, match="180"):
        intrinsics_from_fov((120, 160), fov_x_deg=180)


def test_rescale_keeps_rays_through_the_same_image_points():
    # The ray through the top-left corner of the image and through the image centre stays the same.
    K = intrinsics_from_fov((240, 320), fov_x_deg=75, principal_point=(150.0, 130.0))
    Ks = rescale_intrinsics(K, (240, 320), (120, 160))
    corner = torch.tensor([0.0, 0.0, 1.0])
    torch.testing.assert_close(torch.linalg.solve(K, corner), torch.linalg.solve(Ks, corner))
    # A pixel centre at low resolution is the centre of a 2×2 block at high resolution.
    lo = pixel_centers((120, 160))[5, 7]
    hi_block = pixel_centers((240, 320))[10:12, 14:16].reshape(-1, 3).mean(0)
    torch.testing.assert_close(torch.linalg.solve(Ks, lo), torch.linalg.solve(K, hi_block))


def test_pitch_shear_puts_the_elevated_point_at_the_centre():
    K = intrinsics_from_fov((120, 160), fov_x_deg=90)
    pitch = math.radians(20)
    Ks = shift_principal_point(K, dy=pitch_shear_shift(K, pitch))
    # A point at elevation `pitch` above the optical axis (y is down) projects to the image centre row.
    p = torch.tensor([[0.0, -math.tan(pitch), 1.0]])
    uv, _ = project(p, Ks, identity_pose())
    assert float(uv[0, 1]) == pytest.approx(60.0, abs=1e-4)
    batch = shift_principal_point(K, dy=torch.tensor([0.0, 5.0, -5.0]))
    assert batch.shape == (3, 3, 3)
    torch.testing.assert_close(batch[:, 1, 2], torch.tensor([60.0, 65.0, 55.0]))


@given(intrinsics(SIZE), poses())
def test_project_matches_opencv(K, c2w):
    pts = torch.randn(50, 3, dtype=torch.float64) * 2
    uv, z = project(pts, K, c2w)
    w2c = invert(c2w)
    z_ref = pts @ w2c[:3, :3].T[:, 2] + w2c[2, 3]
    front = (z_ref > 0.1).numpy()
    uv_cv, _ = cv2.projectPoints(
        pts.numpy()[front], so3_log(w2c[:3, :3]).numpy(), w2c[:3, 3].numpy(), K.numpy(), None
    )
    np.testing.assert_allclose(uv.numpy()[front], uv_cv[:, 0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(z, z_ref)


@given(intrinsics(SIZE), poses())
def test_unproject_then_project_returns_pixel_centres_and_depth(K, c2w):
    depth = torch.rand(2, *SIZE, dtype=torch.float64) * 5 + 0.1
    pts = unproject(depth, K, c2w)
    assert pts.shape == (2, *SIZE, 3)
    uv, z = project(pts.reshape(2, -1, 3), K, c2w)
    torch.testing.assert_close(
        uv, pixel_centers(SIZE, torch.float64)[..., :2].reshape(1, -1, 2).expand(2, -1, -1)
    )
    torch.testing.assert_close(z, depth.reshape(2, -1))


@given(intrinsics(SIZE))
def test_camera_rays_hit_pixel_centres_in_opencv(K):
    rays = camera_rays(K, SIZE).reshape(-1, 3)
    assert torch.allclose(rays[:, 2], torch.ones(1, dtype=torch.float64))
    uv_cv, _ = cv2.projectPoints(rays.numpy(), np.zeros(3), np.zeros(3), K.numpy(), None)
    np.testing.assert_allclose(
        uv_cv[:, 0], pixel_centers(SIZE, torch.float64)[..., :2].reshape(-1, 2), atol=1e-9
    )


@given(intrinsics(SIZE), poses())
def test_raymap_round_trip_is_exact(K, c2w):
    rm = raymap(K, c2w, SIZE)
    assert rm.shape == (6, *SIZE)
    torch.testing.assert_close(rm[3:].norm(dim=0), torch.ones(SIZE, dtype=torch.float64))
    K_back, c2w_back = camera_from_raymap(rm)
    torch.testing.assert_close(K_back, K, atol=1e-6, rtol=1e-7)
    torch.testing.assert_close(c2w_back, c2w, atol=1e-9, rtol=0)


def test_raymap_round_trip_float32_batched():
    K = intrinsics_from_fov((60, 80), fov_x_deg=70).expand(3, 3, 3)
    c2w = torch.stack([identity_pose(), identity_pose(), identity_pose()])
    c2w[1, :3, 3] = torch.tensor([1.0, 2.0, -3.0])
    rm = raymap(K, c2w, (60, 80))
    K_back, c2w_back = camera_from_raymap(rm)
    assert K_back.dtype == torch.float32
    torch.testing.assert_close(K_back, K, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(c2w_back, c2w, atol=1e-5, rtol=0)
    mirrored = rm.clone()
    mirrored[:, 3] = -mirrored[:, 3]
    with pytest.raises(ValueError, match="mirrored"):
        camera_from_raymap(mirrored)


@given(intrinsics(SIZE), poses())
def test_plucker_is_invariant_to_the_point_on_the_ray(K, c2w):
    pl = plucker(K, c2w, SIZE)
    d, m = pl[:3], pl[3:]
    torch.testing.assert_close(d.norm(dim=0), torch.ones(SIZE, dtype=torch.float64))
    torch.testing.assert_close((d * m).sum(0), torch.zeros(SIZE, dtype=torch.float64), atol=1e-9, rtol=0)
    # Any point x on the ray gives the same moment x × d.
    pts = unproject(torch.full(SIZE, 3.7, dtype=torch.float64), K, c2w).permute(2, 0, 1)
    torch.testing.assert_close(torch.linalg.cross(pts, d, dim=0), m, atol=1e-9, rtol=0)


def test_plucker_stride_matches_block_centres():
    K = intrinsics_from_fov((32, 48), fov_x_deg=80)
    c2w = identity_pose()
    c2w[:3, 3] = torch.tensor([0.5, -0.2, 1.0])
    low = plucker(K, c2w, (32, 48), stride=8)
    assert low.shape == (6, 4, 6)
    # The direction at a low-res pixel is the direction through the centre of its 8×8 block.
    block = pixel_centers((32, 48))[8:16, 16:24].reshape(-1, 3).mean(0)
    d = torch.linalg.solve(K, block)
    torch.testing.assert_close(low[:3, 1, 2], d / d.norm())
    with pytest.raises(ValueError, match="stride"):
        plucker(K, c2w, (32, 48), stride=5)


def test_bad_inputs():
    K = intrinsics_from_fov((24, 32), fov_x_deg=90)
    with pytest.raises(ValueError, match="NaN"):
        unproject(torch.full((24, 32), float("nan")), K, identity_pose())
    with pytest.raises(ValueError, match="negative"):
        unproject(-torch.ones(24, 32), K, identity_pose())
    with pytest.raises(ValueError, match="shape"):
        project(torch.zeros(5, 2), K, identity_pose())
    with pytest.raises(ValueError, match="focal"):
        project(torch.zeros(5, 3), K * torch.tensor([[-1.0], [1.0], [1.0]]), identity_pose())
    with pytest.raises(ValueError, match="size"):
        camera_rays(K, (24,))
