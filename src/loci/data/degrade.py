"""Degradation simulation for memory conditions (NeoVerse, Sec. 3.3): the generator is trained on bad
warps so that it learns to repair them instead of copying them.

- Flying pixels: at depth edges the depth is average-filtered (a small kernel), so points land between
  foreground and background, as reconstructed depth does at silhouettes.
- Broad distortion: the whole depth map average-filtered with a larger kernel.
- Perturbed trajectory: the condition is rendered only from the points visible from a perturbed camera
  (visibility culling), which opens the holes a novel trajectory opens.
- Mask dropping: the validity mask is withheld, so the model must judge validity from content.

Every draw is per sample with its own probability, from a ``torch.Generator``.
Shapes: depth ``(B, H, W)`` metres, 0 = unknown; poses ``(B, 4, 4)`` camera-to-world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from loci.geometry.se3 import make_pose, so3_exp


@dataclass(frozen=True)
class DegradeConfig:
    """Probabilities (per sample) and sizes of each degradation; all 0 = clean conditions.

    edge_threshold: a pixel is on a depth edge when its window's max/min depth ratio exceeds
    ``1 + edge_threshold``. perturb_rot_deg / perturb_trans_m: largest rotation / translation of the
    perturbed culling camera (uniform in magnitude, random axis)."""

    p_flying_pixels: float = 0.5
    edge_kernel: int = 3
    edge_threshold: float = 0.1
    p_broad: float = 0.2
    broad_kernel: int = 9
    p_perturb: float = 0.3
    perturb_rot_deg: float = 4.0
    perturb_trans_m: float = 0.3
    p_drop_mask: float = 0.2

    def __post_init__(self) -> None:
        for name in ("p_flying_pixels", "p_broad", "p_perturb", "p_drop_mask"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"DegradeConfig.{name} must be a probability, got {getattr(self, name)}")
        for name in ("edge_kernel", "broad_kernel"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"DegradeConfig.{name} must be an odd size >= 1, got {k}")
        if self.edge_threshold <= 0 or self.perturb_rot_deg < 0 or self.perturb_trans_m < 0:
            raise ValueError("edge_threshold must be > 0 and perturbation sizes >= 0")


def box_filter_depth(depth: torch.Tensor, kernel: int) -> torch.Tensor:
    """Mean of the known depths in each ``kernel×kernel`` window (replicate-free: unknown pixels and the
    outside of the image do not count); unknown pixels stay 0. ``(B, H, W)`` → same."""
    known = (depth > 0).to(depth.dtype)[:, None]
    pad = kernel // 2
    total = F.avg_pool2d(depth[:, None] * known, kernel, 1, pad, count_include_pad=True)
    count = F.avg_pool2d(known, kernel, 1, pad, count_include_pad=True)
    out = torch.where(count > 0, total / count.clamp_min(1e-12), torch.zeros_like(total))[:, 0]
    return out * known[:, 0]


def depth_edges(depth: torch.Tensor, kernel: int, threshold: float) -> torch.Tensor:
    """``(B, H, W)`` bool: known pixels whose window's max/min known depth ratio exceeds ``1 + threshold``."""
    known = depth > 0
    pad = kernel // 2
    big = torch.where(known, depth, torch.full_like(depth, float("inf")))
    hi = F.max_pool2d(depth[:, None], kernel, 1, pad)[:, 0]
    lo = -F.max_pool2d(-big[:, None], kernel, 1, pad)[:, 0]
    return known & (hi > lo * (1 + threshold))


def flying_pixels(depth: torch.Tensor, kernel: int = 3, threshold: float = 0.1) -> torch.Tensor:
    """Depth with its edge pixels replaced by the window mean (points fly between the two surfaces)."""
    return torch.where(depth_edges(depth, kernel, threshold), box_filter_depth(depth, kernel), depth)


def perturb_poses(
    c2w: torch.Tensor, max_rot_deg: float, max_trans_m: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``c2w (B, 4, 4)`` moved in its own frame by a random rotation of angle ``U(0, max_rot_deg)`` and
    a translation of length ``U(0, max_trans_m)`` (uniform random axes)."""
    B = c2w.shape[0]

    def direction() -> torch.Tensor:
        v = torch.randn(B, 3, generator=generator, dtype=torch.float64)
        return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    angle = torch.rand(B, 1, generator=generator, dtype=torch.float64) * math.radians(max_rot_deg)
    length = torch.rand(B, 1, generator=generator, dtype=torch.float64) * max_trans_m
    delta = make_pose(so3_exp(direction() * angle), direction() * length)
    return (c2w.double() @ delta).to(c2w.dtype)


def degrade_depth(
    depth: torch.Tensor, cfg: DegradeConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply flying pixels and broad distortion, each to a random subset of the ``B`` depth maps."""
    B = depth.shape[0]
    out = depth
    if cfg.p_flying_pixels > 0:
        pick = torch.rand(B, generator=generator) < cfg.p_flying_pixels
        if bool(pick.any()):
            out = torch.where(
                pick[:, None, None], flying_pixels(out, cfg.edge_kernel, cfg.edge_threshold), out
            )
    if cfg.p_broad > 0:
        pick = torch.rand(B, generator=generator) < cfg.p_broad
        if bool(pick.any()):
            out = torch.where(pick[:, None, None], box_filter_depth(out, cfg.broad_kernel), out)
    return out
