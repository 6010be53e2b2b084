"""Depth encodings: depth ↔ disparity ↔ square-root disparity, and DeepVerse's max-normalisation.

Depth is z-depth (distance along the optical axis) in the source's units; ``0`` marks unknown and
stays ``0`` through every encoding (never NaN, never inf). DeepVerse stores depth as the square root
of disparity ``e = sqrt(1 / d)`` and, for a clip, scales it so that the *first* frame's values fill
``(0, λ]``: ``e_norm = λ · e / e_max`` with ``e_max`` the first frame's maximum. Later frames may
exceed ``λ`` (closer surfaces) without clipping — the room left above ``λ`` is the point of ``λ < 1``.
(The paper says "normalised by d_max × λ" and then states the range ``(0, λ]``; loci implements
the stated range, i.e. multiplies by ``λ / e_max``.)
"""

from __future__ import annotations

import torch

from .checks import check_depth


def _safe_reciprocal(x: torch.Tensor) -> torch.Tensor:
    known = x > 0
    return torch.where(known, 1.0 / torch.where(known, x, torch.ones_like(x)), torch.zeros_like(x))


def depth_to_disparity(depth: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` depth -> disparity ``1 / depth`` (unknown 0 stays 0)."""
    return _safe_reciprocal(check_depth(depth))


def disparity_to_depth(disparity: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` disparity -> depth ``1 / disparity`` (unknown 0 stays 0)."""
    return _safe_reciprocal(check_depth(disparity, "disparity"))


def depth_to_sqrt_disparity(depth: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` depth -> ``sqrt(1 / depth)`` (DeepVerse's depth parameterisation)."""
    return torch.sqrt(depth_to_disparity(depth))


def sqrt_disparity_to_depth(e: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` square-root disparity -> depth ``1 / e²``."""
    check_depth(e, "sqrt_disparity")
    return _safe_reciprocal(e * e)


def frame_max(x: torch.Tensor) -> torch.Tensor:
    """Per-frame maximum ``(...)`` of maps ``(..., H, W)``; raises if a frame has no known value."""
    m = x.flatten(-2).amax(-1)
    if bool((m <= 0).any()):
        raise ValueError("a frame has no known (positive) depth value to normalise by")
    return m


def normalize_by_max(x: torch.Tensor, x_max: torch.Tensor | float, lam: float = 0.9) -> torch.Tensor:
    """DeepVerse pre-process: ``λ · x / x_max`` so that the reference frame fills ``(0, λ]``.

    ``x`` ``(..., H, W)`` (usually square-root disparity), ``x_max`` a scalar or ``(...)``.
    """
    if not 0 < lam <= 1:
        raise ValueError(f"lam must be in (0, 1], got {lam}")
    x_max = torch.as_tensor(x_max, dtype=x.dtype, device=x.device)
    if bool((x_max <= 0).any()):
        raise ValueError("x_max must be positive")
    return x * (lam / x_max)[..., None, None]


def denormalize_by_max(x: torch.Tensor, x_max: torch.Tensor | float, lam: float = 0.9) -> torch.Tensor:
    """Inverse of :func:`normalize_by_max`: ``x · x_max / λ``."""
    if not 0 < lam <= 1:
        raise ValueError(f"lam must be in (0, 1], got {lam}")
    x_max = torch.as_tensor(x_max, dtype=x.dtype, device=x.device)
    return x * (x_max / lam)[..., None, None]
