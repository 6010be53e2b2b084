"""Helpers for tests on the synthetic scene: cameras and the exact co-visibility oracle."""

import torch

from loci.geometry import (
    SyntheticScene,
    cast_rays,
    intrinsics_from_fov,
    make_pose,
    project,
    render,
    so3_exp,
    unproject,
)

SIZE = (60, 80)
SCENE = SyntheticScene()
K = intrinsics_from_fov(SIZE, fov_x_deg=90)


def pose(yaw: float = 0.0, pitch: float = 0.0, t=(0.0, 0.0, 0.0)) -> torch.Tensor:
    """Camera at ``t`` turned by yaw (rotation about camera y, radians) then pitch (about x)."""
    R = so3_exp(torch.tensor([0.0, yaw, 0.0])) @ so3_exp(torch.tensor([pitch, 0.0, 0.0]))
    return make_pose(R, torch.tensor(t, dtype=torch.float32))


def view(c2w: torch.Tensor):
    return render(SCENE, K, c2w, SIZE)


def visible_from(points: torch.Tensor, c2w: torch.Tensor, tol: float = 1e-3) -> torch.Tensor:
    """Exact oracle: world points ``(N, 3)`` that camera ``c2w`` sees (in frame, not occluded).

    Casts a ray from the camera centre through each point's exact sub-pixel projection and checks
    that the first hit is the point itself.
    """
    uv, z = project(points, K, c2w)
    h, w = SIZE
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h) & (z > 1e-3)
    cam_dir = torch.cat([uv, torch.ones_like(uv[:, :1])], -1) @ torch.linalg.inv(K).T
    hits = cast_rays(SCENE, c2w[:3, 3].expand_as(cam_dir), cam_dir @ c2w[:3, :3].T)
    return inside & ((hits.t - z).abs() <= tol * z.abs().clamp_min(1e-6))


def covisible(src_c2w, tgt_c2w, tgt_depth) -> torch.Tensor:
    """Target pixels ``(H, W)`` whose true surface point the source camera also sees."""
    return visible_from(unproject(tgt_depth, K, tgt_c2w).reshape(-1, 3), src_c2w).reshape(SIZE)
