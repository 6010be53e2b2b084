"""``engine``: frames from a real engine (the ground truth, the benchmark's oracle). Takes keys only.

Poses are rebased so that the session starts at the identity; the engine moves the camera itself
(momentum, collisions), and the session's controls follow it.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from loci.control import KeyStepConfig
from loci.engines import Engine, Observation

from ..frame import Frame
from .base import Backend, BackendContext, BackendSpec, MemoryWrite, Produced, StepRequest


class EngineBackend(Backend):
    name = "engine"

    def __init__(self, engine: Engine, start_pose: np.ndarray | None = None):
        """``start_pose`` ``(4, 4)``: the engine's pose at the session's start (the global frame's origin)."""
        self.engine = engine
        self.origin = np.eye(4) if start_pose is None else np.linalg.inv(start_pose.astype(np.float64))

    def frame_of(self, obs: Observation) -> Frame:
        pose = (self.origin @ obs.pose.astype(np.float64)).astype(np.float32)
        return Frame(obs.rgb, obs.depth, pose, obs.K, obs.depth > 0, obs.index, obs.action, {})

    def step(self, request: StepRequest) -> Produced:
        if request.action.kind != "keys":
            raise ValueError("the engine backend takes keys only (W/S/A/D/Q/E/R/F), not text or target poses")
        t0 = time.perf_counter()
        frame = self.frame_of(self.engine.step(request.action.value))
        ms = round((time.perf_counter() - t0) * 1000, 3)
        return Produced(
            frame.rgb,
            frame.depth,
            frame.pose,
            frame.K,
            frame.coverage,
            {"engine_ms": ms},
            MemoryWrite.of_frame(frame),
            moved=True,
        )

    def controller_steps(self, steps: KeyStepConfig) -> KeyStepConfig:
        # the controls only mirror the engine's poses: they must not clamp the engine's pitch
        return KeyStepConfig(
            move_m=steps.move_m, turn_deg=steps.turn_deg, pitch_deg=steps.pitch_deg, max_pitch_deg=89.9
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"origin": torch.from_numpy(self.origin.astype(np.float64))}


def _build(ctx: BackendContext) -> EngineBackend:
    if ctx.engine is None:
        raise ValueError("the engine backend needs an engine: World(cfg, engine=make_engine(...))")
    return EngineBackend(ctx.engine, ctx.engine_start_pose)


SPEC = BackendSpec(
    "engine",
    _build,
    "the real engine's own frames (ground truth; keys only)",
    starts_from_image=False,
    driven_by="keys",
    resume="replay",
)
