"""Accumulating the pixels of many RGB-D frames into one point cloud in one world frame."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .checks import check_depth, check_image, check_intrinsics, check_pose
from .projection import _transform, _unproject_camera
from .se3 import invert


@dataclass(frozen=True)
class PointCloud:
    """Points ``(N, 3)`` in the world frame, features ``(N, C)``, and the frame each came from ``(N,)``."""

    points: torch.Tensor
    features: torch.Tensor
    frame: torch.Tensor

    def __len__(self) -> int:
        return int(self.points.shape[0])


def rebase_poses(c2w: torch.Tensor) -> torch.Tensor:
    """Express poses ``(T, 4, 4)`` in the frame of the first one: ``inv(c2w[0]) @ c2w[t]``.

    loci's global frame is the camera frame of a session's first view; engines report poses in
    their own world frames, and this moves them into loci's.
    """
    check_pose(c2w, "c2w")
    if c2w.dim() < 3 or c2w.shape[0] == 0:
        raise ValueError(f"c2w must have shape (T, 4, 4) with T >= 1, got {tuple(c2w.shape)}")
    return invert(c2w[:1]) @ c2w


def accumulate_points(
    depth: torch.Tensor,
    K: torch.Tensor,
    c2w: torch.Tensor,
    features: torch.Tensor | None = None,
    rebase: bool = True,
    stride: int = 1,
) -> PointCloud:
    """Lift every known-depth pixel of ``T`` frames into one cloud.

    Args:
        depth: ``(T, H, W)`` z-depth, 0 = unknown (skipped).
        K: ``(T, 3, 3)`` or ``(3, 3)``.
        c2w: ``(T, 4, 4)`` camera-to-world poses.
        features: optional ``(T, C, H, W)`` per-pixel features (e.g. RGB); defaults to no channels.
        rebase: express the cloud in the first frame's camera frame (loci's global frame);
            otherwise keep the poses' world frame.
        stride: keep every ``stride``-th pixel in each direction (cheap subsampling).
    Returns:
        :class:`PointCloud` with ``N = number of kept pixels``.
    """
    check_depth(depth)
    check_intrinsics(K)
    check_pose(c2w, "c2w")
    if depth.dim() != 3:
        raise ValueError(f"depth must have shape (T, H, W), got {tuple(depth.shape)}")
    t, h, w = depth.shape
    if c2w.shape != (t, 4, 4):
        raise ValueError(f"c2w must have shape ({t}, 4, 4) to match depth, got {tuple(c2w.shape)}")
    if features is None:
        features = depth.new_zeros(t, 0, h, w)
    check_image(features, "features")
    if features.shape[0] != t or features.shape[-2:] != (h, w):
        raise ValueError(f"features {tuple(features.shape)} must be (T, C, H, W) = ({t}, C, {h}, {w})")
    poses = rebase_poses(c2w) if rebase else c2w
    K = K.expand(t, 3, 3)
    pts = _transform(_unproject_camera(depth, K).flatten(1, 2), poses)  # (T, H*W, 3)
    sl = (slice(None), slice(None, None, stride), slice(None, None, stride))
    keep = torch.zeros_like(depth, dtype=torch.bool)
    keep[sl] = True
    keep = (keep & (depth > 0)).flatten(1)
    feats = features.flatten(2).transpose(1, 2)
    frame = torch.arange(t, device=depth.device)[:, None].expand(t, h * w)
    return PointCloud(pts[keep], feats[keep], frame[keep])
