"""The point memory seen from a target camera, and what of a new frame it should keep.

Shared by every backend that shows the memory (``warp``, the learned world's composite): one render,
one hole filling, one crack closing, one rule for which pixels are remembered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from loci.geometry.splat import Rendered, close_cracks
from loci.memory import PointMemory

from .fill import FillMode, fill_holes
from .frame import Frame


@dataclass(frozen=True, eq=False)
class MemoryWrite:
    """What of a frame enters the point memory: ``rgb (3, H, W)`` float in [0, 1], ``depth (H, W)``
    metres (0 = unknown), ``K (3, 3)``, ``pose (4, 4)`` float32 tensors; ``valid (H, W)`` bool (None:
    every pixel); ``remembered``: the memory's render at this camera, if the backend has it (saves a
    render); ``observed``: seen, not generated (unknown depth then means sky)."""

    rgb: torch.Tensor
    depth: torch.Tensor
    K: torch.Tensor
    pose: torch.Tensor
    valid: torch.Tensor | None = None
    remembered: Rendered | None = None
    observed: bool = False

    @staticmethod
    def of_frame(frame: Frame, observed: bool = True) -> MemoryWrite:
        """All of ``frame`` (uint8 RGB), e.g. a start frame or an engine's observation."""
        return MemoryWrite(
            torch.from_numpy(frame.rgb).permute(2, 0, 1).float() / 255,
            torch.from_numpy(frame.depth),
            torch.from_numpy(frame.K),
            torch.from_numpy(frame.pose),
            observed=observed,
        )

    def apply(self, memory: PointMemory) -> None:
        memory.insert(
            self.rgb,
            self.depth,
            self.K,
            self.pose,
            valid=self.valid,
            remembered=self.remembered,
            observed=self.observed,
        )


def to_uint8(features: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] → ``(H, W, 3)`` uint8 (rounded, clipped)."""
    return (features.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class MemoryView:
    """``rendered``: the memory's render (features ``(3, H, W)`` in [0, 1], depth ``(H, W)``, mask
    ``(H, W)`` bool); ``covered`` ``(H, W)`` bool tensor: its mask with the cracks between splatted
    points closed (:func:`~loci.geometry.close_cracks`); ``rgb`` ``(H, W, 3)`` uint8 and ``depth``
    ``(H, W)`` float32 numpy: the render with its holes filled (the fill mode's; as rendered when
    nothing is remembered in view); ``timings``: ``render_ms`` and ``fill_ms``."""

    rendered: Rendered
    covered: torch.Tensor
    rgb: np.ndarray
    depth: np.ndarray
    timings: dict[str, float]

    @property
    def empty(self) -> bool:
        """Nothing remembered in view."""
        return not bool(self.rendered.mask.any())


def look(
    memory: PointMemory,
    K: torch.Tensor,
    pose: torch.Tensor,
    size: tuple[int, int],
    fill: FillMode = "inpaint",
    count_seen: bool = True,
) -> MemoryView:
    """Render ``memory`` at ``K (3, 3)``, ``pose (4, 4)`` float32 and fill its holes (``fill``).
    ``count_seen``: the points shown count as seen at this step (the memory's eviction)."""
    t0 = time.perf_counter()
    seen = memory.render(K, pose, size, count_seen=count_seen)
    t1 = time.perf_counter()
    mask = seen.mask.numpy()
    rgb, depth = fill_holes(to_uint8(seen.features), seen.depth.numpy().astype(np.float32), mask, fill)
    timings = {"render_ms": (t1 - t0) * 1000, "fill_ms": (time.perf_counter() - t1) * 1000}
    return MemoryView(seen, close_cracks(seen.mask), rgb, depth, timings)


def remember_uncovered(
    view: MemoryView, rgb: np.ndarray, depth: torch.Tensor, K: torch.Tensor, pose: torch.Tensor
) -> MemoryWrite | None:
    """The pixels of a new frame (``rgb (H, W, 3)`` uint8, ``depth (H, W)``) that the memory does not
    cover yet — its filled or generated holes, not the cracks between its points — as a write
    (None when the view is covered everywhere)."""
    if bool(view.covered.all()):
        return None
    return MemoryWrite(
        torch.from_numpy(rgb).permute(2, 0, 1).float() / 255,
        depth,
        K,
        pose,
        valid=~view.covered,
        remembered=view.rendered,
    )
