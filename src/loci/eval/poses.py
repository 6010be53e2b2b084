"""Numpy pose helpers for the metrics (camera-to-world ``(..., 4, 4)``, loci's OpenCV convention)."""

from __future__ import annotations

import cv2
import numpy as np

ORTHO_TOL = 1e-3  # how far R^T R may be from I before a pose is rejected


def check_poses(poses: np.ndarray) -> np.ndarray:
    """``(T, 4, 4)`` rigid camera-to-world poses as float64 (raises ``ValueError`` otherwise)."""
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (4, 4) or len(p) < 1:
        raise ValueError(f"poses must be (T, 4, 4), got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("poses must be finite")
    r = p[:, :3, :3]
    if np.abs(r.transpose(0, 2, 1) @ r - np.eye(3)).max() > ORTHO_TOL or (np.linalg.det(r) < 0).any():
        raise ValueError("pose rotations must be orthonormal with det +1")
    return p


def invert(p: np.ndarray) -> np.ndarray:
    """Inverse of rigid ``(..., 4, 4)`` transforms."""
    out = np.zeros_like(p)
    rt = np.swapaxes(p[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -(rt @ p[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def rotation_angle(r: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) of rotations ``(..., 3, 3) -> (...)``."""
    cos = (np.trace(r, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """Axis-angle vectors of rotations ``(N, 3, 3) -> (N, 3)`` (radians), via ``cv2.Rodrigues``."""
    return np.array([cv2.Rodrigues(np.ascontiguousarray(m, dtype=np.float64))[0][:, 0] for m in r]).reshape(
        -1, 3
    )


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
