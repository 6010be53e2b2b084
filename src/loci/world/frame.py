"""What a world step returns to the player, the CLI, the benchmark and the gym env."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One produced frame.

    rgb ``(H, W, 3)`` uint8; depth ``(H, W)`` float32 z-depth in metres (0 = unknown);
    pose ``(4, 4)`` float32 camera-to-world in the session's global frame (its first view);
    K ``(3, 3)`` float32; coverage ``(H, W)`` bool: pixels backed by real observation or memory
    (False where the backend invented content, e.g. filled holes); index: step number (0 = start);
    action: the action that produced it (``""`` for the start); timings: milliseconds per stage.
    """

    rgb: np.ndarray
    depth: np.ndarray
    pose: np.ndarray
    K: np.ndarray
    coverage: np.ndarray
    index: int
    action: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]
