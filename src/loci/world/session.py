"""A Session: one walk through a world. ``step(action) -> Frame``.

One step: the action is parsed; the controls plan the target pose once (a forward step that would
hit the surface ahead drops its moves); the backend produces the frame there
(:class:`~loci.world.backends.Produced`); the session writes what the backend says the point
memory should keep, moves the controls (to the engine's pose when the engine moved itself), and
builds the frame once. Saving and loading: :mod:`loci.world.persist`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from loci.control import Planned, PoseController, compose_deltas, parse_text
from loci.io import ground_frame
from loci.memory import PointMemory

from .actions import Action, ParsedAction, parse_action
from .backends import Backend, MemoryWrite, StepRequest
from .frame import Frame
from .preset import WorldPreset


class Session:
    """State of one walk: the controller, the memory, the current frame and the history of poses/actions.

    ``config``: the :class:`~loci.world.WorldConfig` it runs (its ``steps`` and ``collision_m`` are
    read here; typed loosely so that this module does not import the World above it); ``preset``:
    its tuned values;
    ``source``: where the start came from (``{"kind": "image"}`` or engine/level/seed);
    ``weights``: SHA-256 of the learned weights it runs (None for other backends).
    """

    def __init__(
        self,
        config: Any,
        preset: WorldPreset,
        backend: Backend,
        memory: PointMemory,
        controller: PoseController,
        first: Frame,
        source: dict[str, Any],
        weights: dict[str, str] | None = None,
    ):
        self.config = config
        self.preset = preset
        self.backend = backend
        self.memory = memory
        self.controller = controller
        self.source = source
        self.weights = weights
        self.poses: list[np.ndarray] = [first.pose]
        self.actions: list[str] = []
        MemoryWrite.of_frame(first).apply(memory)
        self.frame = backend.first(first)

    @property
    def index(self) -> int:
        return len(self.actions)

    def step(self, action: Action) -> Frame:
        """Apply one action and return the new frame (see :func:`~loci.world.actions.parse_action`)."""
        t0 = time.perf_counter()
        act = parse_action(action)
        planned = self._plan(act)
        last = self.frame
        out = self.backend.step(StepRequest(act, planned.pose, last.K, last.size, self.memory, last))
        t1 = time.perf_counter()
        if out.remember is not None:
            out.remember.apply(self.memory)
        if out.moved:  # the engine moved itself: the controls follow it
            self.controller.set_pose(torch.from_numpy(out.pose.astype(np.float64)))
        else:
            self.controller.apply(planned)
        now = time.perf_counter()
        timings = out.timings | {"remember_ms": (now - t1) * 1000, "total_ms": round((now - t0) * 1000, 3)}
        self.frame = Frame(
            out.rgb, out.depth, out.pose, out.K, out.coverage, self.index + 1, act.label, timings
        )
        self.actions.append(act.label)
        self.poses.append(self.frame.pose)
        return self.frame

    def _plan(self, act: ParsedAction) -> Planned:
        """The controls' move for ``act``: computed once (twice only when a collision drops moves)."""
        if act.kind == "keys":
            planned = self.controller.plan(act.value)
            blocked = self._blocked(act.value, planned.pose)
            return planned if blocked is None else self.controller.plan(blocked)
        if act.kind == "text":
            delta = compose_deltas(parse_text(act.value, self.config.steps)).double()
            return self.controller.plan_pose(self.controller.pose.double() @ delta)
        return self.controller.plan_pose(act.pose)

    def _blocked(self, keys: str, target: torch.Tensor) -> str | None:
        """The keys left (turns only, or ``.``) when the forward motion to ``target`` would hit the
        surface ahead in the last frame's depth (the preset's collision band); None when clear."""
        clearance = self.config.collision_m
        if clearance is None or "W" not in keys:
            return None
        step = np.linalg.inv(self.frame.pose.astype(np.float64)) @ target.numpy().astype(np.float64)
        forward = float(step[2, 3])
        band = self.preset.collision
        h, w = self.frame.depth.shape
        rows = slice(int(band.rows[0] * h), int(band.rows[1] * h))
        cols = slice(int(band.cols[0] * w), int(band.cols[1] * w))
        ahead = self.frame.depth[rows, cols]
        known = ahead[ahead > 0]
        if forward > 0 and known.size and float(np.percentile(known, band.percentile)) < forward + clearance:
            return "".join(k for k in keys if k in "QERF") or "."
        return None

    def observe(self, rgb: np.ndarray, depth: np.ndarray, pose: np.ndarray, K: np.ndarray) -> Frame:
        """Teacher forcing: replace the current frame by a true one (global frame) and remember it.

        The next ``step`` then predicts from the truth instead of from the backend's own output.
        """
        pose = np.asarray(pose, np.float32)
        depth = np.asarray(depth, np.float32)
        frame = Frame(rgb, depth, pose, np.asarray(K, np.float32), depth > 0, self.index, "observe", {})
        self.controller.set_pose(torch.from_numpy(pose.astype(np.float64)))
        MemoryWrite.of_frame(frame).apply(self.memory)
        self.backend.observe(frame)
        self.frame = frame
        self.poses[-1] = pose
        return frame

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
