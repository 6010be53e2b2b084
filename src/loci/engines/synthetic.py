"""The ray-cast synthetic room as an engine: exact depth and poses, no packages, fast.

It stands in for the real engines wherever a test or a demo needs ground truth without them, and
follows the same interface and conventions. Moves that would leave the room or enter an object
(with a safety margin) are blocked, like a game's collision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from loci.control import KeyStepConfig, PoseController
from loci.geometry import SyntheticScene, intrinsics_from_fov, make_pose, render, so3_exp

from .base import Engine
from .observation import Observation


@dataclass(frozen=True)
class SyntheticConfig:
    """size ``(H, W)``, horizontal FOV, key step sizes, and the clearance kept from every surface (m)."""

    size: tuple[int, int] = (120, 160)
    fov_x_deg: float = 90.0
    steps: KeyStepConfig = field(
        default_factory=lambda: KeyStepConfig(move_m=0.2, turn_deg=10.0, pitch_deg=5.0)
    )
    clearance: float = 0.3


class SyntheticEngine(Engine):
    """Levels: ``"room"``. Seeds pick the start position and heading."""

    name = "synthetic"

    def __init__(self, cfg: SyntheticConfig | None = None, scene: SyntheticScene | None = None):
        self.cfg = cfg or SyntheticConfig()
        self.scene = scene or SyntheticScene()
        self.K = intrinsics_from_fov(self.cfg.size, fov_x_deg=self.cfg.fov_x_deg)
        self._ctl: PoseController | None = None
        self._index = 0

    def levels(self) -> list[str]:
        return ["room"]

    def free(self, position: np.ndarray) -> bool:
        """Whether a camera centre ``(3,)`` keeps the clearance from the room's walls and every object."""
        c = self.cfg.clearance
        lo, hi = np.array(self.scene.room.lo), np.array(self.scene.room.hi)
        if (position < lo + c).any() or (position > hi - c).any():
            return False
        for box in self.scene.boxes:
            if ((position > np.array(box.lo) - c) & (position < np.array(box.hi) + c)).all():
                return False
        return all(np.linalg.norm(position - np.array(s.center)) > s.radius + c for s in self.scene.spheres)

    def _observe(self, action: str) -> Observation:
        pose = self._ctl.pose
        view = render(self.scene, self.K, pose, self.cfg.size)
        rgb = (view.rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return Observation(rgb, view.depth.numpy(), self.K.numpy(), pose.numpy(), action, self._index)

    def reset(self, level: str, seed: int, start_pose: np.ndarray | None = None) -> Observation:
        self.check_level(level)
        if start_pose is None:
            rng = np.random.default_rng(seed)
            lo, hi = np.array(self.scene.room.lo), np.array(self.scene.room.hi)
            for _ in range(1000):
                pos = np.array([rng.uniform(lo[0], hi[0]), 0.0, rng.uniform(lo[2], hi[2])])
                if self.free(pos):
                    break
            yaw = rng.uniform(-math.pi, math.pi)
            start = make_pose(so3_exp(torch.tensor([0.0, yaw, 0.0])), torch.tensor(pos, dtype=torch.float32))
        else:
            start = torch.as_tensor(np.asarray(start_pose, dtype=np.float32))
            if not self.free(start[:3, 3].numpy()):
                raise ValueError("start_pose is inside an object or too close to a wall")
        self._ctl = PoseController(self.cfg.steps, start, mode="walk")
        self._index = 0
        return self._observe("")

    def step(self, action: str) -> Observation:
        if self._ctl is None:
            raise RuntimeError("call reset(level, seed) before step()")
        action = self.check_action(action)
        nxt = self._ctl.peek(action)
        if self.free(nxt[:3, 3].numpy()):
            self._ctl.step(action)
        else:  # blocked: turn and look as asked, but stay in place
            self._ctl.step("".join(k for k in action if k in "QERF") or ".")
        self._index += 1
        return self._observe(action)
