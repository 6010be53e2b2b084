"""Render an episode for people: an MP4 of RGB | depth | top-down map (trajectory and seen points)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from loci.io import Mp4Writer, colorize_depth, hstack_panels

from .episode import Episode


def _ground_frame(poses: np.ndarray) -> np.ndarray:
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


def _map_points(ep: Episode, every: int, stride: int, max_depth: float) -> np.ndarray:
    """World points ``(N, 3)`` seen in every ``every``-th frame (pixels subsampled by ``stride``)."""
    pts = []
    h, w = ep.meta.size
    v, u = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride] + 0.5
    for t in range(0, len(ep), every):
        d = ep.depth[t, stride // 2 :: stride, stride // 2 :: stride].astype(np.float32)
        ok = (d > 0) & (d < max_depth)
        rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(ep.K[t]).T
        cam = rays[ok] * d[ok][:, None]
        pose = ep.poses[t]
        pts.append(cam @ pose[:3, :3].T + pose[:3, 3])
    return np.concatenate(pts) if pts else np.zeros((0, 3))


class TopDownMap:
    """Draws the trajectory (and the points seen) from above, in a fixed frame for the episode."""

    def __init__(self, poses: np.ndarray, points: np.ndarray, size: int):
        self.R = _ground_frame(poses)
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


def show_episode(path: str | os.PathLike, out: str | os.PathLike | None = None, fps: float = 15.0) -> Path:
    """Write ``out`` (default ``<episode>.mp4`` beside the episode): RGB | depth | top-down map."""
    ep = Episode(path)
    out = Path(out) if out is not None else Path(str(ep.path).rstrip("/") + ".mp4")
    h, _ = ep.meta.size
    poses = np.asarray(ep.poses, dtype=np.float64)
    known = (
        ep.depth[ep.depth > 0]
        if len(ep) <= 64
        else ep.depth[:: max(1, len(ep) // 64)][ep.depth[:: max(1, len(ep) // 64)] > 0]
    )
    near, far = (
        (float(np.percentile(known, 1)), float(np.percentile(known, 99))) if known.size else (0.1, 10.0)
    )
    top = TopDownMap(poses, _map_points(ep, max(1, len(ep) // 40), 6, far), h)
    with Mp4Writer(out, fps) as video:
        for t in tqdm(range(len(ep)), desc=f"rendering {ep.meta.name}", unit="frame"):
            depth = colorize_depth(ep.depth[t].astype(np.float32), near, far)
            video.write(hstack_panels(np.asarray(ep.rgb[t]), depth, top.draw(t, poses)))
    return out
