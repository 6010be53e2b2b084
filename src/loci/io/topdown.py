"""A top-down map of a camera trajectory and the points it has seen, drawn with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np


def ground_frame(poses: np.ndarray) -> np.ndarray:
    """World-to-map rotation ``(3, 3)``: rows = map right, map up (-forward), world down.

    Engines differ in their world axes, so "down" is taken from the cameras themselves: the mean
    camera y axis (OpenCV y points down in the image; engines keep cameras upright).
    """
    down = poses[:, :3, 1].mean(0)
    down /= np.linalg.norm(down)
    fwd = poses[0, :3, 2] - down * (poses[0, :3, 2] @ down)
    if np.linalg.norm(fwd) < 1e-6:
        fwd = poses[0, :3, 0]
    fwd /= np.linalg.norm(fwd)
    right = np.cross(down, fwd)
    return np.stack([right, fwd, down])


class TopDownMap:
    """Draws the trajectory (and the points seen) from above, in a fixed frame for the episode."""

    def __init__(self, poses: np.ndarray, points: np.ndarray, size: int):
        self.R = ground_frame(poses)
        cams = (poses[:, :3, 3] @ self.R.T)[:, :2]
        pts = (points @ self.R.T)[:, :2] if len(points) else cams
        lo = np.minimum(cams.min(0), np.percentile(pts, 2, axis=0)) - 0.5
        hi = np.maximum(cams.max(0), np.percentile(pts, 98, axis=0)) + 0.5
        self.size = size
        self.scale = (size - 8) / max(float((hi - lo).max()), 1e-6)
        self.lo, self.cams = lo, cams
        self.base = np.full((size, size, 3), 24, np.uint8)
        px = self._px(pts)
        keep = (px >= 0).all(1) & (px < size).all(1)
        self.base[px[keep, 1], px[keep, 0]] = (110, 110, 110)

    def _px(self, xy: np.ndarray) -> np.ndarray:
        p = (xy - self.lo) * self.scale + 4
        return np.stack([p[:, 0], self.size - 1 - p[:, 1]], 1).astype(np.int32)

    def draw(self, t: int, poses: np.ndarray) -> np.ndarray:
        img = self.base.copy()
        px = self._px(self.cams)
        cv2.polylines(img, [px[: t + 1]], False, (80, 200, 255), 1, cv2.LINE_AA)
        heading = (poses[t, :3, 2] @ self.R.T)[:2]
        tip = self._px(self.cams[t : t + 1] + 0.6 * heading / max(np.linalg.norm(heading), 1e-6))[0]
        cv2.arrowedLine(
            img,
            tuple(int(c) for c in px[t]),
            tuple(int(c) for c in tip),
            (255, 80, 80),
            2,
            cv2.LINE_AA,
            tipLength=0.4,
        )
        return img


def draw_top_down(
    xyz: np.ndarray, rgb: np.ndarray, poses: np.ndarray, size: int, R: np.ndarray, margin_m: float = 1.0
) -> np.ndarray:
    """A live map ``(size, size, 3)`` uint8: points ``xyz (N, 3)`` in their colours ``rgb (N, 3)``
    (floats in [0, 1]), the camera path of ``poses (T, 4, 4)`` and the current heading, seen from
    above in the frame ``R`` of :func:`ground_frame` (the map's up is the first camera's forward)."""
    img = np.full((size, size, 3), 18, np.uint8)
    cams = (poses[:, :3, 3] @ R.T)[:, :2]
    pts = (xyz @ R.T)[:, :2] if len(xyz) else np.zeros((0, 2))
    span = np.concatenate([cams, np.percentile(pts, [2, 98], axis=0)]) if len(pts) > 10 else cams
    lo, hi = span.min(0) - margin_m, span.max(0) + margin_m
    scale = (size - 8) / max(float((hi - lo).max()), 1e-6)
    centre = (lo + hi) / 2

    def px(xy: np.ndarray) -> np.ndarray:
        p = (xy - centre) * scale + size / 2
        return np.stack([p[:, 0], size - 1 - p[:, 1]], 1).astype(np.int32)

    if len(pts):
        q = px(pts)
        keep = (q >= 0).all(1) & (q < size).all(1)
        img[q[keep, 1], q[keep, 0]] = (np.clip(rgb[keep], 0, 1) * 200 + 20).astype(np.uint8)
    c = px(cams)
    cv2.polylines(img, [c], False, (80, 200, 255), 1, cv2.LINE_AA)
    heading = (poses[-1, :3, 2] @ R.T)[:2]
    tip = px(cams[-1:] + 12 / scale * heading / max(np.linalg.norm(heading), 1e-6))[0]
    cv2.arrowedLine(
        img,
        tuple(int(v) for v in c[-1]),
        tuple(int(v) for v in tip),
        (255, 70, 70),
        2,
        cv2.LINE_AA,
        tipLength=0.45,
    )
    return img
