"""Backends: how a world produces the next frame. Chosen by name; none of the callers knows which.

- ``engine``: the real engine steps (ground truth, the benchmark's oracle). Takes keys only.
- ``warp``: the explicit-memory world: renders the point memory at the target pose and fills the
  holes. The geometry-only baseline every learned model must beat.
- ``copy-last``: repeats the last frame at the new pose (the trivial baseline).
- ``loci``: the learned world (tokenizer + causal DiT) conditioned on its spatial memory;
  ``dit``: the same model without the memory condition (``loci.world.dit_backend``).
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass

import numpy as np
import torch

from loci.engines import Engine, Observation
from loci.memory import PointMemory

from .fill import FillMode, closed_coverage, fill_holes
from .frame import Frame


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class Backend(abc.ABC):
    """Produces frames. ``pose_driven`` backends get target poses; the engine backend gets keys."""

    name = "backend"
    pose_driven = True

    def first(self, frame: Frame, memory: PointMemory) -> Frame:
        """Called with the start frame (already inserted into memory); may return it changed."""
        return frame

    def observe(self, frame: Frame) -> None:  # noqa: B027 - optional hook
        """Teacher forcing: ``frame`` (the truth) replaces the backend's own latest frame."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What a saved session needs to continue exactly where it stopped (tensors only)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:  # noqa: B027 - optional hook
        """Restore :meth:`state_dict` (called after :meth:`first` on the saved current frame)."""

    @abc.abstractmethod
    def produce(
        self,
        pose: np.ndarray,
        K: np.ndarray,
        size: tuple[int, int],
        memory: PointMemory,
        last: Frame,
        action: str = "",
    ) -> Frame:
        """The frame at ``pose`` ``(4, 4)`` (global frame) with intrinsics ``K``; ``action``: the keys
        held for this step (``""`` for text or pose actions). ``index``/``action`` are set by the session."""


@dataclass(frozen=True)
class WarpConfig:
    """fill: how holes are filled (``none``, ``nearest``, ``inpaint``). remember_generated: insert
    filled pixels into the memory too (InSpatio-World's memory from generated frames)."""

    fill: FillMode = "inpaint"
    remember_generated: bool = True


class WarpBackend(Backend):
    name = "warp"

    def __init__(self, cfg: WarpConfig | None = None):
        self.cfg = cfg or WarpConfig()

    def produce(self, pose, K, size, memory, last, action=""):
        t0 = time.perf_counter()
        Kt, Pt = torch.from_numpy(K.astype(np.float32)), torch.from_numpy(pose.astype(np.float32))
        seen = memory.render(Kt, Pt, size)
        t_render = _ms(t0)
        t1 = time.perf_counter()
        rgb = (seen.features.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        depth = seen.depth.numpy().astype(np.float32)
        valid = seen.mask.numpy()
        if not valid.any() and self.cfg.fill != "none":
            # nothing remembered in view: nothing to fill from; show the last frame (as copy-last
            # does) rather than black, and remember nothing of it (its pixels are not at this pose)
            return Frame(
                last.rgb, last.depth, pose.astype(np.float32), K, valid, 0, "", {"render_ms": t_render}
            )
        rgb, depth = fill_holes(rgb, depth, valid, self.cfg.fill)
        t_fill = _ms(t1)
        t2 = time.perf_counter()
        if self.cfg.remember_generated and not valid.all() and self.cfg.fill != "none":
            # Remember filled holes, but not the cracks between splatted points (holes a 3x3
            # closing removes): they are a rendering artefact, not unseen space.
            closed = closed_coverage(valid)
            if not closed.all():
                memory.insert(
                    torch.from_numpy(rgb).permute(2, 0, 1).float() / 255,
                    torch.from_numpy(depth),
                    Kt,
                    Pt,
                    valid=torch.from_numpy(~closed),
                    remembered=seen,
                )
        timings = {"render_ms": t_render, "fill_ms": t_fill, "memory_ms": _ms(t2)}
        return Frame(rgb, depth, pose.astype(np.float32), K, valid, 0, "", timings)


class CopyLastBackend(Backend):
    """Repeats the previous frame's pixels; the pose follows the controls."""

    name = "copy-last"

    def produce(self, pose, K, size, memory, last, action=""):
        return Frame(last.rgb, last.depth, pose.astype(np.float32), K, last.coverage, 0, "", {})


class EngineBackend(Backend):
    """Frames from a real engine. Poses are rebased so that the session starts at the identity."""

    name = "engine"
    pose_driven = False

    def __init__(self, engine: Engine):
        self.engine = engine
        self.origin = np.eye(4)

    def frame_of(self, obs: Observation) -> Frame:
        pose = (self.origin @ obs.pose.astype(np.float64)).astype(np.float32)
        return Frame(obs.rgb, obs.depth, pose, obs.K, obs.depth > 0, obs.index, obs.action, {})

    def step(self, keys: str) -> Frame:
        t0 = time.perf_counter()
        obs = self.engine.step(keys)
        frame = self.frame_of(obs)
        return Frame(
            frame.rgb, frame.depth, frame.pose, frame.K, frame.coverage, 0, "", {"engine_ms": _ms(t0)}
        )

    def produce(self, pose, K, size, memory, last, action=""):
        raise ValueError("the engine backend takes keys only (W/S/A/D/Q/E/R/F), not text or target poses")


LEARNED_BACKENDS: tuple[str, ...] = ("loci", "dit")  # the learned world with / without spatial memory
BACKENDS: tuple[str, ...] = ("warp", "copy-last", "engine", *LEARNED_BACKENDS)
