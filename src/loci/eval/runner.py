"""Running a backend on a recorded truth: free-running and teacher-forced, through the Session API."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from loci.engines import Engine
from loci.world import World, WorldConfig
from loci.world.backends import backend_spec

from .truth import Truth


@dataclass(frozen=True, eq=False)
class Prediction:
    """``rgb (T, H, W, 3)``, ``depth (T, H, W)``, ``coverage (T, H, W)``; ``tf_rgb``/``tf_depth``:
    teacher-forced next-frame predictions (frame 0 copied from the truth), or None when the backend
    has no use for teacher forcing (the engine); ``steps_per_s``; ``memory_bytes``: spatial memory
    size at the end; ``error``: why the run could not happen (e.g. no depth in RGB-only mode)."""

    backend: str
    mode: str
    rgb: np.ndarray | None
    depth: np.ndarray | None
    coverage: np.ndarray | None
    tf_rgb: np.ndarray | None
    tf_depth: np.ndarray | None
    steps_per_s: float
    memory_bytes: int
    error: str | None = None


def _world(backend: str, learned: dict | None) -> World:
    return World(WorldConfig(backend=backend, collision_m=None, **(learned or {})))


def run_backend(
    backend: str, truth: Truth, mode: str, engine: Engine | None = None, learned: dict | None = None
) -> Prediction:
    """Drive ``backend`` along the truth. Pose-driven backends get the true target poses (engines move
    with momentum, so keys alone would not say where the camera went); one driven by keys (the
    engine backend) replays the keys on ``engine``. ``mode``: ``rgbd`` (start with the true depth) or ``rgb`` (without).
    ``learned``: WorldConfig fields of a learned backend (checkpoint paths for ``dit``)."""
    case = truth.case
    spec = backend_spec(backend)
    if spec.driven_by == "keys":
        if mode != "rgbd":  # it starts from its own first frame: one mode
            return Prediction(
                backend, mode, None, None, None, None, None, 0.0, 0, "the engine is the truth; one mode"
            )
        session = World(WorldConfig(backend=backend)).start_from_engine(
            engine, case.level, case.seed, truth.prelude
        )
        actions = truth.keys
    else:
        depth0 = truth.depth[0] if mode == "rgbd" else None
        try:
            session = _world(backend, learned).start(truth.rgb[0], depth0, truth.K[0], engine=case.engine)
        except ValueError as err:
            return Prediction(backend, mode, None, None, None, None, None, 0.0, 0, str(err))
        actions = list(truth.poses[1:])
    frames = [session.frame]
    t0 = time.perf_counter()
    for a in actions:
        frames.append(session.step(a))
    rate = len(actions) / max(time.perf_counter() - t0, 1e-9)
    memory_bytes = session.memory.nbytes
    tf_rgb = tf_depth = None
    if spec.driven_by == "poses":  # teacher forcing: each step starts from the true previous frame
        tf = _world(backend, learned).start(
            truth.rgb[0], truth.depth[0] if mode == "rgbd" else None, truth.K[0], engine=case.engine
        )
        out_rgb, out_depth = [truth.rgb[0]], [truth.depth[0]]
        for t in range(1, len(truth)):
            tf.observe(truth.rgb[t - 1], truth.depth[t - 1], truth.poses[t - 1], truth.K[t - 1])
            f = tf.step(truth.poses[t])
            out_rgb.append(f.rgb)
            out_depth.append(f.depth)
        tf_rgb, tf_depth = np.stack(out_rgb), np.stack(out_depth)
    return Prediction(
        backend,
        mode,
        np.stack([f.rgb for f in frames]),
        np.stack([f.depth for f in frames]),
        np.stack([f.coverage for f in frames]),
        tf_rgb,
        tf_depth,
        rate,
        memory_bytes,
    )
