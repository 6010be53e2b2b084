"""Unproject depth maps to world points and project world points to pixels (with their depth)."""

from __future__ import annotations

import torch

from .checks import check_depth, check_intrinsics, check_pose, check_trailing
from .rays import _camera_rays
from .se3 import invert


def _unproject_camera(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Unchecked: depth ``(..., H, W)`` -> camera-frame points ``(..., H, W, 3)``."""
    return depth[..., None] * _camera_rays(K, tuple(depth.shape[-2:]))


def _transform(points: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Unchecked: apply ``T`` ``(..., 4, 4)`` to points ``(..., N, 3)``."""
    return points @ T[..., :3, :3].transpose(-1, -2) + T[..., None, :3, 3]


def unproject(depth: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """World points ``(..., H, W, 3)`` of every pixel of z-depth maps ``(..., H, W)``.

    ``K`` ``(..., 3, 3)`` and ``c2w`` ``(..., 4, 4)`` broadcast against the depth's batch dims.
    Pixels of unknown depth (0) map to the camera centre; mask them with ``depth > 0``.
    """
    check_depth(depth)
    check_intrinsics(K)
    check_pose(c2w, "c2w")
    pts = _unproject_camera(depth, K)
    h, w = depth.shape[-2:]
    return _transform(pts.flatten(-3, -2), c2w).unflatten(-2, (h, w))


def transform_points(points: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Apply rigid transforms ``(..., 4, 4)`` to points ``(..., N, 3)``."""
    check_trailing(points, "points", (None, 3))
    check_pose(T, "T")
    return _transform(points, T)


def _project_camera(points_cam: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unchecked: camera-frame points ``(..., N, 3)`` -> pixels ``(..., N, 2)``, z ``(..., N)``.

    Element-wise (K's last row is ``[0, 0, 1]``): cheaper than a matmul for large point sets.
    """
    x, y, z = points_cam[..., 0], points_cam[..., 1], points_cam[..., 2]
    inv_z = 1.0 / torch.where(z.abs() > 1e-12, z, torch.full_like(z, 1e-12))
    k = K[..., None, :, :]
    u = (k[..., 0, 0] * x + k[..., 0, 1] * y) * inv_z + k[..., 0, 2]
    v = (k[..., 1, 0] * x + k[..., 1, 1] * y) * inv_z + k[..., 1, 2]
    return torch.stack([u, v], -1), z


def project(points: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points ``(..., N, 3)`` into a camera: pixel coords ``(..., N, 2)`` and z-depth ``(..., N)``.

    Pixel coordinates follow the +0.5 convention (``(0.5, 0.5)`` is the centre of the top-left
    pixel). Points behind the camera get ``z <= 0``; their pixel coordinates are meaningless.
    """
    check_trailing(points, "points", (None, 3))
    check_intrinsics(K)
    check_pose(c2w, "c2w")
    return _project_camera(_transform(points, invert(c2w)), K)
