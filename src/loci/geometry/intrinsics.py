"""Pinhole intrinsics ``K`` ``(..., 3, 3)``: from a field of view, rescaled, principal-point shifts.

Pixel centres sit at ``+0.5``: pixel ``(i, j)`` (row, column) covers ``[j, j+1) × [i, i+1)`` and
its centre is ``(u, v) = (j + 0.5, i + 0.5)``. With this convention, resizing an image by ``s``
multiplies every entry of the first two rows of ``K`` by ``s`` (no half-pixel offsets), and the
image centre of a ``W × H`` image is ``(W/2, H/2)``.
"""

from __future__ import annotations

import math

import torch

from .checks import check_intrinsics, check_size


def intrinsics_from_fov(
    size: tuple[int, int],
    fov_x_deg: float | None = None,
    fov_y_deg: float | None = None,
    principal_point: tuple[float, float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``K`` ``(3, 3)`` for an image of ``size = (H, W)`` and a horizontal and/or vertical FOV.

    With one FOV given, pixels are square (``fx == fy``). The principal point defaults to the image
    centre ``(W/2, H/2)``.
    """
    h, w = check_size(size)
    if fov_x_deg is None and fov_y_deg is None:
        raise ValueError("give fov_x_deg, fov_y_deg or both")
    for name, fov in (("fov_x_deg", fov_x_deg), ("fov_y_deg", fov_y_deg)):
        if fov is not None and not 0 < fov < 180:
            raise ValueError(f"{name} must be in (0, 180) degrees, got {fov}")
    fx = None if fov_x_deg is None else (w / 2) / math.tan(math.radians(fov_x_deg) / 2)
    fy = None if fov_y_deg is None else (h / 2) / math.tan(math.radians(fov_y_deg) / 2)
    fx = fy if fx is None else fx
    fy = fx if fy is None else fy
    cx, cy = (w / 2, h / 2) if principal_point is None else principal_point
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def fov_from_intrinsics(K: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical FOV in degrees ``(...)`` of ``K`` for an image of ``size = (H, W)``.

    Assumes a centred principal point (the FOV of a symmetric frustum with these focal lengths).
    """
    check_intrinsics(K)
    h, w = check_size(size)
    fov_x = torch.rad2deg(2 * torch.atan((w / 2) / K[..., 0, 0]))
    fov_y = torch.rad2deg(2 * torch.atan((h / 2) / K[..., 1, 1]))
    return fov_x, fov_y


def rescale_intrinsics(K: torch.Tensor, from_size: tuple[int, int], to_size: tuple[int, int]) -> torch.Tensor:
    """``K`` ``(..., 3, 3)`` for the same camera after resizing the image from ``(H, W)`` to ``(H', W')``."""
    check_intrinsics(K)
    h0, w0 = check_size(from_size, "from_size")
    h1, w1 = check_size(to_size, "to_size")
    scale = K.new_tensor([[w1 / w0], [h1 / h0], [1.0]])
    return K * scale


def shift_principal_point(K: torch.Tensor, dx: torch.Tensor | float = 0.0, dy: torch.Tensor | float = 0.0):
    """Move the principal point by ``(dx, dy)`` pixels; ``dx``/``dy`` broadcast over the batch dims.

    A per-frame vertical shift is how loci models a game engine's pitch shear (the image is
    translated vertically instead of the camera being rotated).
    """
    check_intrinsics(K)
    dx = torch.as_tensor(dx, dtype=K.dtype, device=K.device)
    dy = torch.as_tensor(dy, dtype=K.dtype, device=K.device)
    batch = torch.broadcast_shapes(K.shape[:-2], dx.shape, dy.shape)
    out = K.expand(*batch, 3, 3).clone()
    out[..., 0, 2] = out[..., 0, 2] + dx
    out[..., 1, 2] = out[..., 1, 2] + dy
    return out


def pitch_shear_shift(K: torch.Tensor, pitch_up_rad: torch.Tensor | float) -> torch.Tensor:
    """Vertical principal-point shift ``(...)`` in pixels that emulates looking up by ``pitch_up_rad``.

    A sheared camera keeps its optical axis horizontal and slides the image: the point at elevation
    ``p`` lands on the image centre when ``cy' = cy + fy · tan(p)``. Engines that scale the shear
    differently pass their own shift to :func:`shift_principal_point`.
    """
    check_intrinsics(K)
    p = torch.as_tensor(pitch_up_rad, dtype=K.dtype, device=K.device)
    return K[..., 1, 1] * torch.tan(p)
