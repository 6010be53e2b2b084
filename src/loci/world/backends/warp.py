"""``warp``: the explicit-memory world, the geometry-only baseline every learned model must beat.

It renders the point memory at the target pose, fills the holes, and remembers what it filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..fill import FillMode
from ..view import look, remember_uncovered
from .base import Backend, BackendSpec, Produced, StepRequest


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

    def step(self, request: StepRequest) -> Produced:
        K = request.K
        Kt, Pt = torch.from_numpy(np.asarray(K, np.float32)), request.pose
        view = look(request.memory, Kt, Pt, request.size, self.cfg.fill)
        pose = Pt.numpy()
        coverage = view.rendered.mask.numpy()
        timings = dict(view.timings)
        if view.empty and self.cfg.fill != "none":
            # nothing remembered in view: nothing to fill from; show the last frame (as copy-last
            # does) rather than black, and remember nothing of it (its pixels are not at this pose)
            last = request.last
            return Produced(last.rgb, last.depth, pose, K, coverage, timings)
        write = None
        if self.cfg.remember_generated and self.cfg.fill != "none":
            # filled holes are remembered, the cracks between splatted points are not
            write = remember_uncovered(view, view.rgb, torch.from_numpy(view.depth), Kt, Pt)
        return Produced(view.rgb, view.depth, pose, K, coverage, timings, write)


SPEC = BackendSpec(
    "warp",
    lambda ctx: WarpBackend(ctx.world.warp),
    "renders the point memory at the new pose and inpaints its holes (the geometry-only baseline)",
)
