"""A session's current frame as the player's ``frame`` message (base64 JPEG/PNG images + numbers)."""

from __future__ import annotations

import base64
import time
from typing import Any

import cv2
import numpy as np

from loci.io import colorize_depth
from loci.world import Session


def _b64(ext: str, rgb: np.ndarray, params: list[int]) -> str:
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise RuntimeError(f"could not encode a {rgb.shape} image as {ext}")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def frame_message(
    session: Session, jpeg_quality: int, map_size: int, seq: int | None = None, t: float | None = None
) -> dict[str, Any]:
    """``{"type": "frame", ...}`` for ``session.frame``: rgb/depth as JPEG, the top-down map as PNG.

    ``seq`` and ``t`` are the client's, echoed; ``timings`` holds the session's step timings (ms)
    plus ``encode_ms`` and ``map_ms``.
    """
    f = session.frame
    t0 = time.perf_counter()
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    rgb = _b64(".jpg", f.rgb, jpeg)
    depth = _b64(".jpg", colorize_depth(f.depth), jpeg)
    t1 = time.perf_counter()
    top = _b64(".png", session.top_down(map_size), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    t2 = time.perf_counter()
    timings = {k: round(float(v), 3) for k, v in f.timings.items()}
    timings["encode_ms"] = round((t1 - t0) * 1000, 3)
    timings["map_ms"] = round((t2 - t1) * 1000, 3)
    return {
        "type": "frame",
        "seq": seq,
        "t": t,
        "index": int(f.index),
        "action": f.action,
        "width": int(f.rgb.shape[1]),
        "height": int(f.rgb.shape[0]),
        "rgb": rgb,
        "depth": depth,
        "map": top,
        "pose": np.asarray(f.pose, np.float64).round(6).tolist(),
        "coverage": round(float(np.mean(f.coverage)), 4),
        "timings": timings,
        "memory_points": len(session.memory),
    }
