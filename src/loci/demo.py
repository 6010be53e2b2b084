"""The built-in demo: walk a loop through the synthetic room and render RGB | depth to an MP4.

This is the main job until the browser player exists: it shows the geometry and control layers
working end to end (keys -> walk-mode poses -> exact ray-cast views), and it is what ``make play``
runs on a fresh machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from loci.control import KeyStepConfig, Trajectory, describe_delta, loop_back
from loci.geometry import SyntheticScene, intrinsics_from_fov, render
from loci.io import Mp4Writer, atomic_write_bytes, colorize_depth, hstack_panels, to_uint8_image

# Out through the room between the sphere and the red box, a look around, and back by the same keys.
DEMO_KEYS = "WWWWWWWW" + "QQQ" + "RRR" + "EEEEEEEEE" + "FFFFFF" + "WWW" + "EEEEEEE" + "RR"


@dataclass(frozen=True)
class DemoConfig:
    """Demo settings: image size ``(H, W)``, horizontal FOV, frames per second, keys and step sizes."""

    size: tuple[int, int] = (240, 320)
    fov_x_deg: float = 90.0
    fps: float = 12.0
    keys: str = DEMO_KEYS
    steps: KeyStepConfig = field(
        default_factory=lambda: KeyStepConfig(move_m=0.25, turn_deg=10.0, pitch_deg=5.0)
    )
    depth_range: tuple[float, float] = (0.5, 12.0)


def demo_trajectory(cfg: DemoConfig) -> Trajectory:
    """The demo's loop-back walk: ``2 · len(keys) + 1`` poses, last pose = first pose."""
    K = intrinsics_from_fov(cfg.size, fov_x_deg=cfg.fov_x_deg)
    return loop_back(None, cfg.keys, cfg.steps, mode="walk", K=K, name="demo")


def _caption(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    out[-20:] = (out[-20:] * 0.35).astype(np.uint8)
    cv2.putText(
        out, text, (6, out.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA
    )
    return out


def render_demo(out: str | Path, cfg: DemoConfig | None = None, still: str | Path | None = None) -> Path:
    """Render the demo walk to ``out`` (MP4: RGB | depth, each step captioned in words).

    ``still``: optionally also save a PNG strip of four frames (the README picture).
    """
    cfg = cfg or DemoConfig()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    traj = demo_trajectory(cfg)
    scene = SyntheticScene()
    deltas = traj.deltas()
    frames = []
    with Mp4Writer(out, cfg.fps) as video:
        for t in tqdm(range(len(traj)), desc="rendering demo", unit="frame"):
            view = render(scene, traj.K, traj.poses[t], cfg.size)
            rgb = to_uint8_image(view.rgb)
            depth = colorize_depth(view.depth, *cfg.depth_range)
            words = "start" if t == 0 else f"{traj.actions[t - 1]}: {describe_delta(deltas[t - 1])}"
            frame = hstack_panels(_caption(rgb, words), depth)
            video.write(frame)
            frames.append(frame)
    if still is not None:
        picks = np.linspace(0, len(frames) // 2, 4).astype(int)
        strip = np.concatenate([frames[i] for i in picks], 0)
        Path(still).parent.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", strip[..., ::-1])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        atomic_write_bytes(still, png.tobytes())
    return out
