"""Downsampling engine frames rendered at a higher resolution (RGB by area, depth edge-aware)."""

from __future__ import annotations

import cv2
import numpy as np


def downsample_rgb(rgb: np.ndarray, factor: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(H/f, W/f, 3)`` by area averaging (each output pixel = its f×f block)."""
    if factor == 1:
        return rgb
    h, w = rgb.shape[:2]
    if h % factor or w % factor:
        raise ValueError(f"factor {factor} must divide the frame size {(h, w)}")
    return cv2.resize(rgb, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def downsample_depth(depth: np.ndarray, factor: int, rel_tol: float = 0.05) -> np.ndarray:
    """``(H, W)`` float32 z-depth (0 = unknown) -> ``(H/f, W/f)``, without flying pixels.

    A block whose known depths agree within ``rel_tol`` gets their mean (the depth at the block
    centre on a smooth surface); a block that straddles a depth edge gets its nearest known depth
    (the occluder), never an average of two surfaces; a block with no known depth stays 0.
    """
    if factor == 1:
        return depth
    h, w = depth.shape
    if h % factor or w % factor:
        raise ValueError(f"factor {factor} must divide the depth size {(h, w)}")
    blocks = (
        depth.reshape(h // factor, factor, w // factor, factor)
        .transpose(0, 2, 1, 3)
        .reshape(h // factor, w // factor, -1)
    )
    known = blocks > 0
    count = known.sum(-1)
    big = np.where(known, blocks, np.inf)
    lo = big.min(-1)
    hi = np.where(known, blocks, 0).max(-1)
    mean = np.where(count > 0, blocks.sum(-1) / np.maximum(count, 1), 0)
    smooth = (count == factor * factor) & (hi <= lo * (1 + rel_tol))
    out = np.where(smooth, mean, np.where(count > 0, lo, 0))
    return out.astype(np.float32)
