"""What every engine returns: one ground-truth frame with its camera, in loci's conventions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Observation:
    """One ground-truth frame.

    rgb: ``(H, W, 3)`` uint8.
    depth: ``(H, W)`` float32 z-depth in metres; ``0`` where the engine gives no valid depth
        (sky, beyond the depth buffer's range, closer than its near limit).
    K: ``(3, 3)`` float32 intrinsics at ``(H, W)`` (pixel centres at +0.5; a pitch shear shows up
        as a principal-point shift).
    pose: ``(4, 4)`` float32 camera-to-world, OpenCV camera axes, in the *engine's* world frame
        converted to metres (a session rebases poses onto its first frame).
    action: the key action that led here (``""`` for a reset), e.g. ``"W"``, ``"WQ"``, ``"."``.
    index: frame index within the episode (0 at reset).
    """

    rgb: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    pose: np.ndarray
    action: str
    index: int

    def __post_init__(self) -> None:
        h, w = self.rgb.shape[:2]
        if self.rgb.dtype != np.uint8 or self.rgb.shape != (h, w, 3):
            raise ValueError(
                f"Observation.rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}"
            )
        if self.depth.dtype != np.float32 or self.depth.shape != (h, w):
            raise ValueError(
                f"Observation.depth must be ({h}, {w}) float32, got {self.depth.shape} {self.depth.dtype}"
            )
        if not np.isfinite(self.depth).all() or (self.depth < 0).any():
            raise ValueError("Observation.depth must be finite and >= 0 (0 = unknown)")
        if self.K.shape != (3, 3) or self.pose.shape != (4, 4):
            raise ValueError("Observation.K must be (3, 3) and pose (4, 4)")

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.rgb.shape[0], self.rgb.shape[1]
