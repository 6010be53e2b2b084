"""Z-buffered splatting of points with C-channel features into a camera image.

This is the renderer behind forward warping and explicit point memories. Two modes:

- ``"nearest"``: every point lands on the pixel that contains it; the nearest point wins (exact
  ties are averaged). Sharp, leaves cracks when the target view magnifies the source.
- ``"bilinear"``: every point spreads over its 4 neighbouring pixel centres with bilinear weights;
  per pixel, contributions within ``depth_tolerance`` (relative) of the nearest point *inside* that
  pixel (of any point, if none is inside) are averaged by weight, farther ones are occluded.
  Smoother and fewer cracks than nearest, without growing foreground edges.

A pixel that received no accepted contribution is a hole: ``mask`` is False there and its
features and depth are 0.

Footprints (nearest mode): a point may carry a world-space ``radius``, the half-size of the surface
patch it stands for (a pixel of the frame that saw it). It then covers, at its depth, every pixel
whose centre lies within ``radius · f / z`` of it (a camera-facing square, plus the pixel holding
it): a view that magnifies the memory shows surfaces instead of a sieve of points with cracks.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from .checks import check_intrinsics, check_pose, check_size, check_trailing
from .projection import _project_camera, _transform
from .se3 import invert

SplatMode = Literal["nearest", "bilinear"]
NEAR_PLANE = 1e-4


class Rendered(NamedTuple):
    """A rendered view: ``features (B, C, H, W)``, ``depth (B, H, W)`` (0 in holes), ``mask (B, H, W)`` bool."""

    features: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor


def _splat_camera(
    points: torch.Tensor,
    features: torch.Tensor,
    K: torch.Tensor,
    size: tuple[int, int],
    mode: SplatMode = "nearest",
    valid: torch.Tensor | None = None,
    depth_tolerance: float = 0.03,
    min_weight: float = 1e-3,
    radius: torch.Tensor | None = None,
) -> Rendered:
    """Unchecked core. ``points (B, N, 3)`` in the camera frame, ``features (B, N, C)``, ``K (B, 3, 3)``."""
    return _splat_camera_winners(points, features, K, size, mode, valid, depth_tolerance, min_weight, radius)[
        0
    ]


MAX_FOOTPRINT_PX = 2


def _footprints(
    u: torch.Tensor, v: torch.Tensor, r: torch.Tensor, reach: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixels covered by points at ``u, v (M,)`` with half-size ``r (M,)`` pixels (at most
    ``reach``): those whose centre lies in the point's square, plus the pixel holding
    it. Returns ``x, y (M, P)`` pixel indices and ``covered (M, P)`` bool for the ``P = (2 reach + 1)²``
    candidate offsets."""
    d = torch.arange(-reach, reach + 1, dtype=u.dtype)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    x0, y0 = torch.floor(u), torch.floor(v)
    x = x0[:, None] + dx.reshape(1, -1)
    y = y0[:, None] + dy.reshape(1, -1)
    r = r.clamp(max=reach)[:, None]
    inside = ((x + 0.5 - u[:, None]).abs() <= r) & ((y + 0.5 - v[:, None]).abs() <= r)
    covered = inside | ((dx == 0) & (dy == 0)).reshape(1, -1)
    return x, y, covered


def _splat_camera_winners(
    points: torch.Tensor,
    features: torch.Tensor,
    K: torch.Tensor,
    size: tuple[int, int],
    mode: SplatMode = "nearest",
    valid: torch.Tensor | None = None,
    depth_tolerance: float = 0.03,
    min_weight: float = 1e-3,
    radius: torch.Tensor | None = None,
) -> tuple[Rendered, torch.Tensor]:
    """:func:`_splat_camera` that also returns which points ``(B, N)`` bool contributed to a pixel.
    ``radius (B, N)``: world-space footprint half-sizes (nearest mode only; None: one pixel each)."""
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"unknown splat mode {mode!r}; use 'nearest' or 'bilinear'")
    if radius is not None and mode != "nearest":
        raise ValueError("point footprints (radius) need the 'nearest' splat mode")
    b, n, c = features.shape
    h, w = size
    uv, z = _project_camera(points, K)
    # Frustum cull first and work on the surviving points only (a memory mostly lies off-screen).
    pad = 1.0 if mode == "bilinear" else 0.0
    if radius is not None:
        pad = float(MAX_FOOTPRINT_PX)
    ok = (
        (z > NEAR_PLANE)
        & (uv[..., 0] >= -pad)
        & (uv[..., 0] < w + pad)
        & (uv[..., 1] >= -pad)
        & (uv[..., 1] < h + pad)
    )
    if valid is not None:
        ok = ok & valid
    sel = ok.reshape(-1).nonzero().squeeze(1)
    u, v, z = uv[..., 0].reshape(-1)[sel], uv[..., 1].reshape(-1)[sel], z.reshape(-1)[sel]
    f = features.reshape(-1, c)[sel]
    batch = torch.div(sel, n, rounding_mode="floor")
    src = torch.arange(len(sel), device=z.device)  # the point behind each candidate pixel
    own = None
    tol = 0.0
    if mode == "nearest":
        x, y = torch.floor(u), torch.floor(v)
        wgt = torch.ones_like(z)
        if radius is not None:
            # points magnified past a pixel also cover the pixel centres inside their footprint
            r_px = radius.reshape(-1)[sel] * torch.sqrt(K[:, 0, 0] * K[:, 1, 1])[batch] / z
            big = (r_px > 0.5).nonzero().squeeze(1)
            if len(big):
                bx, by, covered = _footprints(u[big], v[big], r_px[big], MAX_FOOTPRINT_PX)
                keep_c = covered.reshape(-1)
                # the small points keep their one pixel; the big ones get their footprint's pixels
                single = torch.ones(len(sel), dtype=torch.bool, device=z.device)
                single[big] = False
                rest = single.nonzero().squeeze(1)
                src = torch.cat([rest, big[:, None].expand_as(covered).reshape(-1)[keep_c]])
                x = torch.cat([x[rest], bx.reshape(-1)[keep_c]])
                y = torch.cat([y[rest], by.reshape(-1)[keep_c]])
                wgt = torch.ones_like(x)
                z, batch, f = z[src], batch[src], f[src]
    else:
        x0, y0 = torch.floor(u - 0.5), torch.floor(v - 0.5)
        fx, fy = u - 0.5 - x0, v - 0.5 - y0
        x = torch.stack([x0, x0 + 1, x0, x0 + 1], -1)
        y = torch.stack([y0, y0, y0 + 1, y0 + 1], -1)
        wgt = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], -1)
        own = (x == torch.floor(u)[:, None]) & (y == torch.floor(v)[:, None])  # the pixel holding the point
        z = z[:, None].expand_as(wgt)
        batch = batch[:, None].expand_as(wgt)
        f = f[:, None, :].expand(-1, 4, c)
        src = src[:, None].expand_as(wgt)
        tol = depth_tolerance
    inb = (x >= 0) & (x < w) & (y >= 0) & (y < h) & (wgt > 0)
    # Rejected contributions go to one extra "trash" pixel at index b*h*w.
    trash = b * h * w
    flat = batch * (h * w) + y.clamp(0, h - 1).long() * w + x.clamp(0, w - 1).long()
    flat = torch.where(inb, flat, trash).reshape(-1)
    z = torch.where(inb, z, torch.full_like(z, float("inf"))).reshape(-1)
    zbuf = torch.full((trash + 1,), float("inf"), dtype=z.dtype, device=z.device)
    zbuf.scatter_reduce_(0, flat, z, reduce="amin")
    if own is not None:
        # The occluder of a pixel is the nearest point *inside* it (the nearest-mode z-buffer);
        # points of neighbouring pixels only fill pixels that hold no point. Without this,
        # foreground objects grow by a pixel over the background they occlude.
        inside = torch.full_like(zbuf, float("inf"))
        inside.scatter_reduce_(0, flat, torch.where(own.reshape(-1), z, zbuf[-1]), reduce="amin")
        zbuf = torch.where(torch.isfinite(inside), inside, zbuf)
    keep = (z <= zbuf[flat] * (1 + tol)) & (flat != trash)
    w_ok = torch.where(keep, wgt.reshape(-1), torch.zeros_like(z))
    z_w = torch.where(keep, z, torch.zeros_like(z)) * w_ok
    f_w = f.reshape(-1, c) * w_ok[:, None]

    wsum = torch.zeros(trash + 1, dtype=z.dtype, device=z.device).index_add_(0, flat, w_ok)[:trash]
    zsum = torch.zeros(trash + 1, dtype=z.dtype, device=z.device).index_add_(0, flat, z_w)[:trash]
    fsum = torch.zeros(trash + 1, c, dtype=f_w.dtype, device=z.device).index_add_(0, flat, f_w)[:trash]
    mask = wsum > min_weight
    denom = torch.where(mask, wsum, torch.ones_like(wsum))
    feat = torch.where(mask[:, None], fsum / denom[:, None], torch.zeros_like(fsum))
    depth = torch.where(mask, zsum / denom, torch.zeros_like(zsum))
    won = torch.zeros(len(sel), dtype=torch.bool, device=z.device)
    won[src.reshape(-1)[keep]] = True
    winners = torch.zeros(b * n, dtype=torch.bool, device=z.device)
    winners[sel] = won
    rendered = Rendered(feat.view(b, h, w, c).permute(0, 3, 1, 2), depth.view(b, h, w), mask.view(b, h, w))
    return rendered, winners.view(b, n)


def render_points(
    points: torch.Tensor,
    features: torch.Tensor,
    K: torch.Tensor,
    c2w: torch.Tensor,
    size: tuple[int, int],
    mode: SplatMode = "nearest",
    valid: torch.Tensor | None = None,
    depth_tolerance: float = 0.03,
    radius: torch.Tensor | None = None,
) -> Rendered:
    """Render world points ``(B, N, 3)`` with features ``(B, N, C)`` into cameras ``K (B, 3, 3)``, ``c2w (B, 4, 4)``.

    ``valid (B, N)`` optionally masks points out; ``radius (B, N)`` gives them footprints (nearest
    mode; see the module notes). Unbatched inputs ``(N, 3)``, ``(N, C)``, ``(3, 3)``, ``(4, 4)``
    (and ``(N,)`` for ``valid``/``radius``) are accepted and give an unbatched result ``(C, H, W)``, ``(H, W)``.
    """
    check_trailing(points, "points", (None, 3))
    check_trailing(features, "features", (None, None))
    check_intrinsics(K)
    check_pose(c2w, "c2w")
    size = check_size(size)
    unbatched = points.dim() == 2
    if unbatched:
        points, features = points[None], features[None]
        valid = None if valid is None else valid[None]
        radius = None if radius is None else radius[None]
    if features.shape[:-1] != points.shape[:-1]:
        raise ValueError(
            f"features {tuple(features.shape)} must match points {tuple(points.shape)} in (B, N)"
        )
    b = points.shape[0]
    K, c2w = K.to(points.dtype), c2w.to(points.dtype)
    K = K.expand(b, 3, 3)
    pts_cam = _transform(points, invert(c2w).expand(b, 4, 4))
    if radius is not None and radius.shape != points.shape[:-1]:
        raise ValueError(f"radius {tuple(radius.shape)} must match points {tuple(points.shape)} in (B, N)")
    out = _splat_camera(pts_cam, features, K, size, mode, valid, depth_tolerance, radius=radius)
    return Rendered(*(t[0] for t in out)) if unbatched else out


def close_cracks(mask: torch.Tensor) -> torch.Tensor:
    """``mask (H, W)`` bool after a 3×3 morphological closing (dilate, then erode; the image border
    neither adds nor removes coverage): a splatted render's coverage with the one-pixel cracks
    between its points counted as covered (a rendering artefact, not unseen space). Equal to
    OpenCV's ``morphologyEx(MORPH_CLOSE)`` with a 3×3 kernel."""
    m = mask[None, None].float()
    closed = -F.max_pool2d(-F.max_pool2d(m, 3, 1, 1), 3, 1, 1)
    return closed[0, 0] > 0
