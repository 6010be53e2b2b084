"""Render an episode for people: an MP4 of RGB | depth | top-down map (trajectory and seen points)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from loci.io import Mp4Writer, TopDownMap, colorize_depth, hstack_panels

from .episode import Episode


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
