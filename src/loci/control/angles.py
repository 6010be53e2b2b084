"""Yaw / pitch / roll of a camera rotation in the OpenCV frame (x right, y down, z forward).

``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (intrinsic: turn, then look, then roll), with the signs a
player expects:
- ``yaw > 0`` turns right (rotation about +y, which points down),
- ``pitch > 0`` looks up (rotation about +x),
- ``roll > 0`` rolls right, i.e. clockwise as seen from behind the camera (rotation about +z).
Angles are radians. The decomposition is unique for ``|pitch| < π/2``.
"""

from __future__ import annotations

import math

import torch

from loci.geometry import check_rotation, so3_exp


def axis_rotation(axis: int, angle: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Rotation ``(3, 3)`` by ``angle`` radians about camera axis ``axis`` (0 = x, 1 = y, 2 = z)."""
    omega = torch.zeros(3, dtype=dtype)
    omega[axis] = angle
    return so3_exp(omega)


def ypr_matrix(
    yaw: float, pitch: float, roll: float = 0.0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Rotation ``(3, 3)`` ``Ry(yaw) @ Rx(pitch) @ Rz(roll)`` from radians (closed form, fast)."""
    ca, sa, cb, sb = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    cc, sc = math.cos(roll), math.sin(roll)
    rows = [
        [ca * cc + sa * sb * sc, sa * sb * cc - ca * sc, sa * cb],
        [cb * sc, cb * cc, -sb],
        [ca * sb * sc - sa * cc, sa * sc + ca * sb * cc, ca * cb],
    ]
    return torch.tensor(rows, dtype=dtype)


def ypr_angles(R: torch.Tensor) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` radians of a rotation ``(3, 3)``; inverse of :func:`ypr_matrix`.

    ``yaw`` and ``roll`` are in ``(-π, π]``, ``pitch`` in ``[-π/2, π/2]``.
    """
    R = check_rotation(R).to(torch.float64)
    if R.shape != (3, 3):
        raise ValueError(f"R must have shape (3, 3), got {tuple(R.shape)}")
    pitch = math.asin(max(-1.0, min(1.0, -float(R[1, 2]))))
    yaw = math.atan2(float(R[0, 2]), float(R[2, 2]))
    roll = math.atan2(float(R[1, 0]), float(R[1, 1]))
    return yaw, pitch, roll
