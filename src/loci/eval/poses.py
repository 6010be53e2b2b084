"""Numpy front-ends of :mod:`loci.geometry`'s pose functions for the metrics (float64, ``(..., 4, 4)``).

The maths lives once, in ``loci.geometry`` (tested against OpenCV there); these only convert.
"""

from __future__ import annotations

import numpy as np
import torch

from loci import geometry


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def check_poses(poses: np.ndarray) -> np.ndarray:
    """``(T, 4, 4)`` rigid camera-to-world poses as float64 (raises ``ValueError`` otherwise)."""
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (4, 4) or len(p) < 1:
        raise ValueError(f"poses must be (T, 4, 4), got {p.shape}")
    geometry.check_pose(_t(p), "poses")
    return p


def invert(p: np.ndarray) -> np.ndarray:
    """Inverse of rigid ``(..., 4, 4)`` transforms."""
    return geometry.invert(_t(p)).numpy()


def rotation_angle(r: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) of rotations ``(..., 3, 3) -> (...)``."""
    return geometry.rotation_angle(_t(r)).numpy()


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """Axis-angle vectors of rotations ``(N, 3, 3) -> (N, 3)`` (radians)."""
    return geometry.so3_log(_t(r)).numpy().reshape(-1, 3)


def rebase(poses: np.ndarray) -> np.ndarray:
    """Poses relative to the first one: ``P_0^{-1} P_t`` ``(T, 4, 4)``."""
    return invert(poses[:1]) @ poses


def step_motions(poses: np.ndarray) -> np.ndarray:
    """Relative motions ``P_t^{-1} P_{t+1}`` ``(T-1, 4, 4)``: frame t+1's camera in frame t's camera axes."""
    return invert(poses[:-1]) @ poses[1:]


def chain(steps: np.ndarray) -> np.ndarray:
    """Inverse of :func:`step_motions`: ``(T-1, 4, 4)`` steps -> ``(T, 4, 4)`` poses from the identity."""
    out = [np.eye(4)]
    for s in steps:
        out.append(out[-1] @ s)
    return np.stack(out)
