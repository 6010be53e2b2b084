"""Warping C-channel feature maps (RGB, depth, latents) between cameras with depth.

- :func:`forward_warp` lifts every source pixel with its depth and splats it into the target view
  (z-buffered, validity mask for holes). This is InSpatio-World's depth-warped reference and, on a
  latent map with its downsampled intrinsics, the latent warp of latent spatial memory.
- :func:`backward_warp` samples the source at the projections of the target pixels, given the
  target's depth (bilinear ``grid_sample``), with an optional occlusion test against the source depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_depth, check_image, check_intrinsics, check_pose, check_size
from .projection import _project_camera, _transform, _unproject_camera
from .se3 import invert
from .splat import Rendered, SplatMode, _splat_camera


def _batch(x: torch.Tensor, batch: tuple[int, ...], tail: int) -> torch.Tensor:
    """Broadcast ``x`` to ``(*batch, *x.shape[-tail:])`` and flatten the batch to one dim."""
    x = x.expand(*batch, *x.shape[x.dim() - tail :])
    return x.reshape(-1, *x.shape[len(batch) :])


def forward_warp(
    features: torch.Tensor,
    depth: torch.Tensor,
    K_src: torch.Tensor,
    c2w_src: torch.Tensor,
    K_tgt: torch.Tensor,
    c2w_tgt: torch.Tensor,
    size: tuple[int, int] | None = None,
    mode: SplatMode = "nearest",
    depth_tolerance: float = 0.03,
) -> Rendered:
    """Splat source features into the target camera.

    Args:
        features: ``(..., C, H, W)`` any number of channels.
        depth: ``(..., H, W)`` source z-depth; ``0`` = unknown (that pixel is not warped).
        K_src, K_tgt: ``(..., 3, 3)`` intrinsics (for a latent map, the downsampled ones).
        c2w_src, c2w_tgt: ``(..., 4, 4)`` camera-to-world poses.
        size: target ``(H', W')``; defaults to the source size.
        mode: ``"nearest"`` or ``"bilinear"`` splatting (see :mod:`loci.geometry.splat`).
    Returns:
        :class:`Rendered` with ``features (..., C, H', W')``, ``depth (..., H', W')`` (target
        z-depth, 0 in holes) and ``mask (..., H', W')``.
    """
    check_image(features, "features")
    check_depth(depth)
    check_intrinsics(K_src, "K_src")
    check_intrinsics(K_tgt, "K_tgt")
    check_pose(c2w_src, "c2w_src")
    check_pose(c2w_tgt, "c2w_tgt")
    if features.shape[-2:] != depth.shape[-2:]:
        raise ValueError(f"features {tuple(features.shape)} and depth {tuple(depth.shape)} differ in (H, W)")
    h, w = depth.shape[-2:]
    size = (h, w) if size is None else check_size(size)
    batch = torch.broadcast_shapes(
        features.shape[:-3],
        depth.shape[:-2],
        K_src.shape[:-2],
        K_tgt.shape[:-2],
        c2w_src.shape[:-2],
        c2w_tgt.shape[:-2],
    )
    f = _batch(features, batch, 3)
    d = _batch(depth, batch, 2)
    Ks, Kt = _batch(K_src, batch, 2), _batch(K_tgt, batch, 2)
    rel = invert(_batch(c2w_tgt, batch, 2)) @ _batch(c2w_src, batch, 2)  # source cam -> target cam
    pts = _transform(_unproject_camera(d, Ks).flatten(1, 2), rel)
    out = _splat_camera(pts, f.flatten(2).transpose(1, 2), Kt, size, mode, d.flatten(1) > 0, depth_tolerance)
    return Rendered(
        out.features.reshape(*batch, *out.features.shape[1:]),
        out.depth.reshape(*batch, *size),
        out.mask.reshape(*batch, *size),
    )


def backward_warp(
    features: torch.Tensor,
    depth_tgt: torch.Tensor,
    K_tgt: torch.Tensor,
    c2w_tgt: torch.Tensor,
    K_src: torch.Tensor,
    c2w_src: torch.Tensor,
    depth_src: torch.Tensor | None = None,
    occlusion_tolerance: float = 0.03,
) -> Rendered:
    """Sample source features at the projections of the target pixels.

    Args:
        features: source ``(..., C, H, W)``.
        depth_tgt: target z-depth ``(..., H', W')``; 0 = unknown (masked out).
        K_tgt, c2w_tgt, K_src, c2w_src: cameras as in :func:`forward_warp`.
        depth_src: optional source depth ``(..., H, W)``; when given, target pixels whose source
            depth (nearest sample) disagrees by more than ``occlusion_tolerance`` (relative) are
            occluded in the source and masked out.
    Returns:
        :class:`Rendered`: bilinearly sampled ``features (..., C, H', W')``, the target pixels'
        depth *in the source camera* ``(..., H', W')`` and ``mask (..., H', W')``.
    """
    check_image(features, "features")
    check_depth(depth_tgt, "depth_tgt")
    check_intrinsics(K_src, "K_src")
    check_intrinsics(K_tgt, "K_tgt")
    check_pose(c2w_src, "c2w_src")
    check_pose(c2w_tgt, "c2w_tgt")
    if depth_src is not None:
        check_depth(depth_src, "depth_src")
        if depth_src.shape[-2:] != features.shape[-2:]:
            raise ValueError("depth_src must have the (H, W) of features")
    h, w = features.shape[-2:]
    ht, wt = depth_tgt.shape[-2:]
    shapes = [features.shape[:-3], depth_tgt.shape[:-2], K_src.shape[:-2], K_tgt.shape[:-2]]
    batch = torch.broadcast_shapes(*shapes, c2w_src.shape[:-2], c2w_tgt.shape[:-2])
    f = _batch(features, batch, 3)
    dt = _batch(depth_tgt, batch, 2)
    rel = invert(_batch(c2w_src, batch, 2)) @ _batch(c2w_tgt, batch, 2)  # target cam -> source cam
    pts = _transform(_unproject_camera(dt, _batch(K_tgt, batch, 2)).flatten(1, 2), rel)
    uv, z = _project_camera(pts, _batch(K_src, batch, 2))
    grid = torch.stack([2 * uv[..., 0] / w - 1, 2 * uv[..., 1] / h - 1], -1).view(-1, ht, wt, 2)
    out = F.grid_sample(f, grid, mode="bilinear", padding_mode="border", align_corners=False)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)
    mask = (dt.flatten(1) > 0) & (z > 0) & inside
    if depth_src is not None:
        ds = _batch(depth_src, batch, 2)[:, None]
        sampled = F.grid_sample(ds, grid, mode="nearest", padding_mode="border", align_corners=False).flatten(
            1
        )
        mask = mask & ((sampled - z).abs() <= occlusion_tolerance * z)
    mask = mask.view(-1, ht, wt)
    out = out * mask[:, None]
    return Rendered(
        out.reshape(*batch, *out.shape[1:]),
        torch.where(mask, z.view(-1, ht, wt), torch.zeros_like(mask, dtype=z.dtype)).reshape(*batch, ht, wt),
        mask.reshape(*batch, ht, wt),
    )
