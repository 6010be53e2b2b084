"""A Session: one walk through a world. ``step(action) -> Frame``; ``save(path)``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from loci.control import PoseController, compose_deltas, parse_text
from loci.io import ground_frame
from loci.memory import PointMemory

from .actions import Action, parse_action
from .backends import Backend, EngineBackend
from .frame import Frame

if TYPE_CHECKING:
    from .world import World


class Session:
    """State of one walk: the controller, the memory, the current frame and the history of poses/actions."""

    def __init__(
        self,
        world: World,
        backend: Backend,
        memory: PointMemory,
        controller: PoseController,
        first: Frame,
        source: dict[str, Any],
    ):
        self.world = world
        self.backend = backend
        self.memory = memory
        self.controller = controller
        self.frame = first
        self.source = source  # where the start came from: {"kind": "image"} or engine/level/seed
        self.poses: list[np.ndarray] = [first.pose]
        self.actions: list[str] = []

    @property
    def index(self) -> int:
        return len(self.actions)

    def step(self, action: Action) -> Frame:
        """Apply one action and return the new frame (see :func:`~loci.world.actions.parse_action`)."""
        t0 = time.perf_counter()
        act = parse_action(action)
        if isinstance(self.backend, EngineBackend):
            if act.kind != "keys":
                raise ValueError(
                    "the engine backend takes keys only (W/S/A/D/Q/E/R/F), not text or target poses"
                )
            frame = self.backend.step(act.value)
            self.controller.set_pose(torch.from_numpy(frame.pose.astype(np.float64)))
            self._remember(frame)
        else:
            if act.kind == "keys":
                pose = self.controller.step(self._collide(act.value))
            elif act.kind == "text":
                pose = self.controller.set_pose(
                    self.controller.pose.double()
                    @ compose_deltas(parse_text(act.value, self.world.steps)).double()
                )
            else:
                pose = self.controller.set_pose(act.pose)
            frame = self.backend.produce(
                pose.numpy().astype(np.float64),
                self.frame.K,
                self.frame.size,
                self.memory,
                self.frame,
                act.value if act.kind == "keys" else "",
            )
        timings = dict(frame.timings)
        timings["total_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        self.frame = Frame(
            frame.rgb, frame.depth, frame.pose, frame.K, frame.coverage, self.index + 1, act.label, timings
        )
        self.actions.append(act.label)
        self.poses.append(self.frame.pose)
        return self.frame

    def observe(self, rgb: np.ndarray, depth: np.ndarray, pose: np.ndarray, K: np.ndarray) -> Frame:
        """Teacher forcing: replace the current frame by a true one (global frame) and remember it.

        The next ``step`` then predicts from the truth instead of from the backend's own output.
        """
        pose = np.asarray(pose, np.float32)
        frame = Frame(
            rgb,
            np.asarray(depth, np.float32),
            pose,
            np.asarray(K, np.float32),
            depth > 0,
            self.index,
            "observe",
            {},
        )
        self.controller.set_pose(torch.from_numpy(pose.astype(np.float64)))
        self._remember(frame)
        self.backend.observe(frame)
        self.frame = frame
        self.poses[-1] = pose
        return frame

    def _collide(self, keys: str) -> str:
        """Drop the forward/back/strafe keys of a step whose forward motion would hit the surface ahead."""
        clearance = self.world.cfg.collision_m
        if clearance is None or "W" not in keys:
            return keys
        step = np.linalg.inv(self.frame.pose.astype(np.float64)) @ self.controller.peek(keys).numpy().astype(
            np.float64
        )
        forward = float(step[2, 3])
        h, w = self.frame.depth.shape
        band = self.frame.depth[int(0.35 * h) : int(0.65 * h), int(0.4 * w) : int(0.6 * w)]
        known = band[band > 0]
        if forward > 0 and known.size and float(np.percentile(known, 10)) < forward + clearance:
            return "".join(k for k in keys if k in "QERF") or "."
        return keys

    def _remember(self, frame: Frame) -> None:
        self.memory.insert(
            torch.from_numpy(frame.rgb).permute(2, 0, 1).float() / 255,
            torch.from_numpy(frame.depth),
            torch.from_numpy(frame.K),
            torch.from_numpy(frame.pose),
            observed=True,
        )

    def top_down(self, size: int = 240, max_points: int = 60_000) -> np.ndarray:
        """``(size, size, 3)`` uint8 map from above: remembered points (their colour), path, heading."""
        from loci.io.topdown import draw_top_down

        poses = np.stack(self.poses)
        xyz = self.memory.xyz.numpy()
        rgb = self.memory.rgb.numpy()
        if len(xyz) > max_points:
            pick = np.linspace(0, len(xyz) - 1, max_points).astype(np.int64)
            xyz, rgb = xyz[pick], rgb[pick]
        return draw_top_down(xyz, rgb, poses, size, ground_frame(poses[:1]))

    def save(self, path: str) -> None:
        """Save poses, memory, controller and history to one safetensors file (atomic)."""
        from .persist import save_session

        save_session(self, path)
