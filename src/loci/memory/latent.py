"""Latent spatial memory and the memory condition of the world model.

The memory of a learned world lives where the model works: tokenizer latents, one point per latent
pixel, lifted with the depth of its ``f×f`` pixel block (latent spatial memory: warp latents, no pixel
round trip). Rendering it at a target camera (the latent-resolution intrinsics) gives the warped
latent, its depth and a validity mask; :func:`memory_condition` stacks them into the channels the DiT
concatenates on the frame being generated (InSpatio-World's depth-warped reference + mask).

Shapes: latents ``(B, C, h, w)``; pixel depth ``(B, H, W)`` with ``H = f·h``; ``K`` ``(B, 3, 3)``.
"""

from __future__ import annotations

import torch

from loci.geometry import rescale_intrinsics
from loci.geometry.depth import depth_to_sqrt_disparity, normalize_by_max
from loci.geometry.projection import _transform, _unproject_camera
from loci.geometry.se3 import invert
from loci.geometry.splat import Rendered, _splat_camera, _splat_camera_winners

from .points import PointMemory, PointMemoryConfig

# a latent point stands for a 4×4 pixel block: dedupe more loosely than pixels, keep more of them
LATENT_MEMORY = PointMemoryConfig(dedupe_tolerance=0.08, max_points=200_000, footprints=False, sky=None)


def block_depth(depth: torch.Tensor, factor: int) -> torch.Tensor:
    """Depth of each ``factor×factor`` block: the median of its known (> 0) pixels, 0 if none.

    ``depth (..., H, W)`` → ``(..., H/f, W/f)``; ``H`` and ``W`` must be multiples of ``factor``.
    """
    *batch, H, W = depth.shape
    if factor < 1 or H % factor or W % factor:
        raise ValueError(f"depth of size {(H, W)} is not divisible into {factor}×{factor} blocks")
    if factor == 1:
        return depth.clone()
    h, w = H // factor, W // factor
    blocks = depth.reshape(*batch, h, factor, w, factor).transpose(-3, -2).reshape(*batch, h, w, factor**2)
    blocks = torch.where(blocks > 0, blocks, torch.full_like(blocks, float("nan")))
    return torch.nan_to_num(blocks.nanmedian(-1).values, nan=0.0)


def latent_intrinsics(K: torch.Tensor, image_size: tuple[int, int], factor: int) -> torch.Tensor:
    """Intrinsics ``(..., 3, 3)`` of the latent grid of an ``image_size`` image downsampled ``factor``×."""
    H, W = image_size
    return rescale_intrinsics(K, (H, W), (H // factor, W // factor))


def lift(depth: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """World points ``(B, h·w, 3)`` of every cell of ``depth (B, h, w)`` (row-major)."""
    return _transform(_unproject_camera(depth, K).flatten(-3, -2), c2w)


def render_points(
    xyz: torch.Tensor,
    features: torch.Tensor,
    valid: torch.Tensor,
    K: torch.Tensor,
    c2w: torch.Tensor,
    size: tuple[int, int],
    cull_c2w: torch.Tensor | None = None,
) -> Rendered:
    """Z-buffered nearest splat of world points into cameras.

    xyz ``(B, N, 3)``, features ``(B, N, C)``, valid ``(B, N)`` bool, K ``(B, 3, 3)``, c2w ``(B, 4, 4)``.
    cull_c2w: optional ``(B, 4, 4)`` cameras; only the points visible from them (winning a pixel of
    their z-buffer) are rendered: the holes a novel trajectory opens (NeoVerse's visibility culling).
    """
    if cull_c2w is not None:
        _, won = _splat_camera_winners(_transform(xyz, invert(cull_c2w)), features, K, size, valid=valid)
        valid = valid & won
    return _splat_camera(_transform(xyz, invert(c2w)), features, K, size, valid=valid)


def memory_condition(
    rendered: Rendered, scale: torch.Tensor, lam: float = 0.9, mask_known: torch.Tensor | None = None
) -> torch.Tensor:
    """The DiT's memory channels ``(B, C + 2, h, w)`` of a rendered latent memory.

    ``[warped latent (0 in holes), normalised sqrt-disparity of the warped depth (the tokenizer's
    encoding with the session's ``scale (B,)``; 0 in holes), mask (+1 valid, -1 hole, 0 = unknown)]``.
    ``mask_known (B,)`` bool: False drops the mask to 0 (NeoVerse's random mask dropping).
    """
    feats, depth, mask = rendered.features, rendered.depth, rendered.mask
    m = mask.to(feats.dtype)
    code = normalize_by_max(depth_to_sqrt_disparity(depth), scale.to(depth.dtype), lam) * m
    signed = 2 * m - 1
    if mask_known is not None:
        signed = signed * mask_known.to(feats.dtype)[:, None, None]
    return torch.cat([feats * m[:, None], code[:, None].to(feats.dtype), signed[:, None]], 1)


class LatentMemory(PointMemory):
    """A :class:`PointMemory` of latent vectors at latent resolution (``channels`` = latent channels)."""

    def __init__(self, channels: int, cfg: PointMemoryConfig | None = None):
        super().__init__(cfg or LATENT_MEMORY, channels=channels)
