"""Frame metrics: PSNR, SSIM, depth error, temporal flickering, Memory Symmetry.

Images are uint8 RGB ``(H, W, 3)`` (or batches ``(N, H, W, 3)``) on the 0–255 scale; depth is
float z-depth ``(H, W)`` in metres with ``0`` = unknown. Everything is numpy + OpenCV; the tests
check PSNR/SSIM against ``skimage.metrics`` (which is not a runtime dependency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

DATA_RANGE = 255.0  # uint8 images
PSNR_CAP_DB = 100.0  # a finite stand-in for identical images, for callers that average PSNRs
SSIM_SIGMA = 1.5  # Gaussian window of Wang et al. 2004 (skimage gaussian_weights=True)
SSIM_TRUNCATE = 3.5  # skimage's truncation of the window: radius = int(3.5 * 1.5 + 0.5) = 5
SSIM_K1, SSIM_K2 = 0.01, 0.03
DEPTH_DELTA = 1.25  # threshold of the delta < 1.25 accuracy


def _as_images(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape or pred.shape[-1] != 3:
        raise ValueError(f"images must be (..., H, W, 3) of equal shape, got {pred.shape} and {true.shape}")
    if pred.dtype != np.uint8 or true.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {pred.dtype} and {true.dtype}")
    return pred.astype(np.float64), true.astype(np.float64)


def _as_mask(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape:
        raise ValueError(f"mask must be {shape}, got {mask.shape}")
    return mask


def psnr(
    pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None, cap_db: float | None = None
) -> float:
    """PSNR in dB of ``pred`` vs ``true`` ``(H, W, 3)`` uint8, over the pixels of ``mask (H, W)``.

    Identical images give ``inf`` (as skimage does) unless ``cap_db`` is given; an empty mask gives NaN.
    """
    p, t = _as_images(pred, true)
    m = _as_mask(mask, p.shape[:2])
    if not m.any():
        return math.nan
    mse = float(((p - t) ** 2)[m].mean())
    value = math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)
    return min(value, cap_db) if cap_db is not None else value


def psnr_batch(
    pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None, cap_db: float | None = None
) -> np.ndarray:
    """PSNR per image of ``(N, H, W, 3)`` batches (``mask (N, H, W)`` optional) -> ``(N,)`` float64."""
    masks = [None] * len(pred) if mask is None else list(mask)
    return np.array([psnr(p, t, m, cap_db) for p, t, m in zip(pred, true, masks, strict=True)])


def _gaussian_kernel() -> np.ndarray:
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return k / k.sum()


def ssim_map(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """SSIM map ``(H, W)`` float64 of two ``(H, W, 3)`` uint8 images, averaged over channels.

    Gaussian window (sigma 1.5, 11 taps), population covariances, reflected borders: the map whose
    interior mean is ``skimage.metrics.structural_similarity(..., channel_axis=-1, data_range=255,
    gaussian_weights=True, use_sample_covariance=False)``.
    """
    x, y = _as_images(pred, true)
    k = _gaussian_kernel()
    if min(x.shape[:2]) < len(k):
        raise ValueError(f"SSIM needs images of at least {len(k)}x{len(k)} pixels, got {x.shape[:2]}")

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(a, cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT)

    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    ux, uy = blur(x), blur(y)
    vx, vy, vxy = blur(x * x) - ux * ux, blur(y * y) - uy * uy, blur(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(axis=-1)


def ssim(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM of ``(H, W, 3)`` uint8 images (skimage's value), over ``mask (H, W)`` if given.

    As in skimage, a border of the window's radius (5 px) is left out of the mean, masked or not;
    an empty mask gives NaN.
    """
    s = ssim_map(pred, true)
    m = _as_mask(mask, s.shape).copy()
    r = len(_gaussian_kernel()) // 2
    m[:r], m[-r:], m[:, :r], m[:, -r:] = False, False, False, False
    return float(s[m].mean()) if m.any() else math.nan


def ssim_batch(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """SSIM per image of ``(N, H, W, 3)`` batches (``mask (N, H, W)`` optional) -> ``(N,)`` float64."""
    masks = [None] * len(pred) if mask is None else list(mask)
    return np.array([ssim(p, t, m) for p, t, m in zip(pred, true, masks, strict=True)])


@dataclass(frozen=True)
class DepthError:
    """``abs_rel`` = mean |d_pred - d_true| / d_true; ``delta1`` = fraction with
    max(d_pred/d_true, d_true/d_pred) < 1.25; over ``n_pixels`` pixels where both depths are known;
    ``scale``: the factor applied to ``d_pred`` (1 without alignment); ``coverage``: the share of the
    pixels of known true depth that have a predicted depth (a prediction that answers "unknown" is not
    judged by the errors, so compare them at equal coverage; NaN where no true depth is known)."""

    abs_rel: float
    delta1: float
    n_pixels: int
    scale: float
    coverage: float


def depth_error(
    pred: np.ndarray,
    true: np.ndarray,
    mask: np.ndarray | None = None,
    align: Literal["none", "median"] = "none",
) -> DepthError:
    """Depth error of ``pred`` vs ``true`` ``(..., H, W)`` metres (0 = unknown), pooled over all pixels.

    ``align="median"`` first scales ``pred`` by median(d_true) / median(d_pred) over the valid
    pixels, for scale-ambiguous (e.g. monocular, up-to-scale) predictions; a metric model should be
    judged with ``"none"``. No valid pixel gives NaN errors.
    """
    if align not in ("none", "median"):
        raise ValueError(f"align must be 'none' or 'median', got {align!r}")
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"depth maps must have equal shapes, got {p.shape} and {t.shape}")
    known = (t > 0) & np.isfinite(t)
    if mask is not None:
        known &= np.broadcast_to(np.asarray(mask, dtype=bool), known.shape)
    valid = known & (p > 0) & np.isfinite(p)
    n, n_known = int(valid.sum()), int(known.sum())
    coverage = n / n_known if n_known else math.nan
    if n == 0:
        return DepthError(math.nan, math.nan, 0, 1.0, coverage)
    p, t = p[valid], t[valid]
    scale = float(np.median(t) / np.median(p)) if align == "median" else 1.0
    p = p * scale
    ratio = np.maximum(p / t, t / p)
    return DepthError(
        float(np.mean(np.abs(p - t) / t)), float(np.mean(ratio < DEPTH_DELTA)), n, scale, coverage
    )


def temporal_flickering(video: np.ndarray) -> float:
    """VBench's temporal flickering score of ``(T, H, W, 3)`` uint8 frames, in [0, 1] (1 = static).

    (255 - mean absolute difference of consecutive frames) / 255, the difference averaged over the
    pixels and channels of each pair, then over the ``T - 1`` pairs.
    """
    v = np.asarray(video)
    if v.ndim != 4 or v.dtype != np.uint8 or len(v) < 2:
        raise ValueError(f"video must be (T>=2, H, W, 3) uint8, got {v.shape} {v.dtype}")
    diffs = np.abs(np.diff(v.astype(np.int16), axis=0)).reshape(len(v) - 1, -1).mean(axis=1)
    return float((DATA_RANGE - diffs.mean()) / DATA_RANGE)


def laplacian_energy(video: np.ndarray) -> np.ndarray:
    """Per-frame variance of the Laplacian of the grey image of ``(T, H, W, 3)`` uint8 frames, ``(T,)``.

    ``cv2.Laplacian`` (3×3 aperture, float64) of ``cv2.cvtColor(RGB2GRAY)``, border reflected; the
    classic focus measure: blur lowers it, speckle noise raises it.
    """
    v = np.asarray(video)
    if v.ndim != 4 or v.shape[-1] != 3 or v.dtype != np.uint8 or len(v) == 0:
        raise ValueError(f"video must be (T>=1, H, W, 3) uint8, got {v.shape} {v.dtype}")
    return np.array([cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for f in v])


def sharpness_ratio(pred: np.ndarray, true: np.ndarray) -> float:
    """Laplacian energy of ``pred`` summed over its frames over that of ``true`` (both ``(T, H, W, 3)``
    uint8): 1 = as sharp as the truth, below 1 = blur, above 1 = noise or speckle. ``nan`` when the
    truth has no texture at all (every frame flat)."""
    p, t = np.asarray(pred), np.asarray(true)
    if p.shape != t.shape:
        raise ValueError(f"pred and true must have the same shape, got {p.shape} and {t.shape}")
    den = float(laplacian_energy(t).sum())
    return float(laplacian_energy(p).sum() / den) if den > 0 else float("nan")


@dataclass(frozen=True)
class MemorySymmetryConfig:
    """WorldScape A.1.1 constants: ``s = exp(-k1 max(MSE - a, 0)^k2)``, weights ``exp(alpha |i - (n-1)/2|)``."""

    k1: float = 1e-4
    k2: float = 1.1
    a: float = 1000.0
    alpha: float = 0.1


@dataclass(frozen=True, eq=False)
class MemorySymmetry:
    """``score`` in [0, 1]; per pair i = 0..m-1: ``mse (m,)`` (0–255 scale), ``similarity (m,)``,
    ``weights (m,)`` (unnormalised)."""

    score: float
    mse: np.ndarray
    similarity: np.ndarray
    weights: np.ndarray


def memory_symmetry(video: np.ndarray, config: MemorySymmetryConfig | None = None) -> MemorySymmetry:
    """WorldScape's Memory Symmetry of ``(n, H, W, 3)`` uint8 frames of a mirrored (there-and-back) path.

    Pairs ``(F_i, F_{n-1-i})`` for ``i = 0 .. m-1`` with ``m = floor(n/2)``: the paper's text says
    ``i in [0, floor(n/2)]`` but its sum runs to ``m - 1``; we follow the sum, which never pairs the
    middle frame of an odd-length video with itself. MSE is the mean over pixels and channels on
    the 0–255 scale. Pairs nearer the ends weigh more (``i = 0``, first vs last, the most).
    """
    cfg = config or MemorySymmetryConfig()
    v = np.asarray(video)
    if v.ndim != 4 or v.dtype != np.uint8 or len(v) < 2:
        raise ValueError(f"video must be (n>=2, H, W, 3) uint8, got {v.shape} {v.dtype}")
    n = len(v)
    i = np.arange(n // 2)
    first, last = v[i].astype(np.float64), v[n - 1 - i].astype(np.float64)
    mse = ((first - last) ** 2).reshape(len(i), -1).mean(axis=1)
    sim = np.exp(-cfg.k1 * np.maximum(mse - cfg.a, 0.0) ** cfg.k2)
    w = np.exp(cfg.alpha * np.abs(i - (n - 1) / 2))
    return MemorySymmetry(float((sim * w).sum() / w.sum()), mse, sim, w)
