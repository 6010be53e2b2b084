"""Filling the holes of a warped view: OpenCV inpainting for colour, nearest valid depth for depth."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

FillMode = Literal["none", "nearest", "inpaint"]


def nearest_fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Copy into each invalid pixel the value of its nearest valid pixel. ``(H, W[, C])``, ``(H, W)`` bool."""
    if valid.all() or not valid.any():
        return values
    _, labels = cv2.distanceTransformWithLabels(
        (~valid).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    ys, xs = np.nonzero(valid)
    # label k (1-based) is the k-th zero pixel of the input in row-major order, i.e. the k-th valid pixel
    src = np.zeros(labels.max() + 1, np.int64)
    src[1 : len(ys) + 1] = ys * values.shape[1] + xs
    flat = values.reshape(values.shape[0] * values.shape[1], -1)
    out = flat[src[labels.reshape(-1)]].reshape(values.shape)
    return np.where(valid[..., None] if values.ndim == 3 else valid, values, out)


def fill_holes(
    rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray, mode: FillMode
) -> tuple[np.ndarray, np.ndarray]:
    """``rgb (H, W, 3)`` uint8 and ``depth (H, W)`` float32 with holes where ``valid`` is False.

    ``none`` leaves holes black with depth 0; ``nearest`` copies the nearest valid pixel (colour and
    depth); ``inpaint`` uses OpenCV's Telea inpainting for colour and nearest for depth (inpainted
    depth would blend foreground and background into flying surfaces).
    """
    if mode == "none" or valid.all():
        return rgb, depth
    if not valid.any():
        return rgb, depth
    if mode == "nearest":
        return nearest_fill(rgb, valid), nearest_fill(depth, valid)
    if mode == "inpaint":
        holes = (~valid).astype(np.uint8)
        return cv2.inpaint(rgb, holes, 3, cv2.INPAINT_TELEA), nearest_fill(depth, valid)
    raise ValueError(f"unknown fill mode {mode!r}; use 'none', 'nearest' or 'inpaint'")
