"""``copy-last``: repeats the previous frame's pixels at the new pose (the trivial baseline)."""

from __future__ import annotations

import numpy as np

from .base import Backend, BackendSpec, Produced, StepRequest


class CopyLastBackend(Backend):
    name = "copy-last"

    def step(self, request: StepRequest) -> Produced:
        last = request.last
        pose = request.pose.numpy().astype(np.float32)
        return Produced(last.rgb, last.depth, pose, request.K, last.coverage)


SPEC = BackendSpec(
    "copy-last",
    lambda ctx: CopyLastBackend(),
    "repeats the last frame at the new pose (the trivial baseline)",
    needs_depth=False,
)
