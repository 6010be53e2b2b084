"""Images for people: float tensors to uint8, depth to colour, side-by-side panels, labels."""

from __future__ import annotations

import cv2
import numpy as np
import torch


def to_uint8_image(
    rgb: torch.Tensor | np.ndarray, value_range: tuple[float, float] = (0.0, 1.0)
) -> np.ndarray:
    """``(3, H, W)`` float in ``value_range`` (torch or numpy) -> ``(H, W, 3)`` uint8."""
    a = rgb.detach().cpu().numpy() if isinstance(rgb, torch.Tensor) else np.asarray(rgb)
    if a.ndim != 3 or a.shape[0] != 3:
        raise ValueError(f"expected (3, H, W), got {a.shape}")
    lo, hi = value_range
    a = (a.transpose(1, 2, 0) - lo) / (hi - lo)
    return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


def colorize_depth(
    depth: torch.Tensor | np.ndarray, near: float | None = None, far: float | None = None
) -> np.ndarray:
    """``(H, W)`` z-depth -> ``(H, W, 3)`` uint8 RGB (turbo colour map on inverse depth; unknown 0 is black).

    ``near``/``far`` fix the range across frames (so colours do not flicker in a video); by default
    they come from this frame's known depths.
    """
    d = depth.detach().cpu().numpy() if isinstance(depth, torch.Tensor) else np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"expected (H, W) depth, got {d.shape}")
    known = d > 0
    if not known.any():
        return np.zeros((*d.shape, 3), np.uint8)
    near = float(d[known].min()) if near is None else near
    far = float(d[known].max()) if far is None else far
    inv = np.where(known, 1.0 / np.maximum(d, 1e-6), 0.0)
    lo, hi = 1.0 / max(far, 1e-6), 1.0 / max(near, 1e-6)
    t = np.clip((inv - lo) / max(hi - lo, 1e-12), 0, 1)
    bgr = cv2.applyColorMap(np.rint(t * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    rgb = bgr[..., ::-1].copy()
    rgb[~known] = 0
    return rgb


def hstack_panels(*panels: np.ndarray, gap: int = 2) -> np.ndarray:
    """Place ``(H, W_i, 3)`` uint8 panels side by side (heights must match) with a dark gap."""
    h = panels[0].shape[0]
    if any(p.shape[0] != h or p.ndim != 3 for p in panels):
        raise ValueError("panels must be (H, W, 3) with the same H")
    sep = np.full((h, gap, 3), 16, np.uint8)
    out = [panels[0]]
    for p in panels[1:]:
        out += [sep, p]
    return np.concatenate(out, 1)


def label_image(img: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``img (H, W, 3)`` uint8 with ``text`` written small at its top left, white on a
    black outline (readable on any background)."""
    out = img.copy()
    # the outline is the same thin text shifted around it: a thicker stroke would also widen the
    # glyphs' advance (Hershey fonts), and drift off the white text along a long label
    for dx, dy in ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)):
        cv2.putText(out, text, (4 + dx, 11 + dy), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(out, text, (4, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return out
