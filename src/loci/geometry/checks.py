"""Input validation at the geometry boundary: one clear ``ValueError`` naming the problem.

Every public geometry function checks its inputs with these helpers; internal hot paths call the
unchecked ``_``-prefixed variants so that nothing is validated twice per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

ROTATION_ATOL = 1e-3


def check_tensor(x: object, name: str) -> torch.Tensor:
    """Return ``x`` if it is a floating-point tensor; raise ``TypeError``/``ValueError`` otherwise."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_trailing(x: object, name: str, trailing: Sequence[int | None], what: str = "") -> torch.Tensor:
    """Check that the last ``len(trailing)`` dims of ``x`` match ``trailing`` (``None`` = any size).

    Example: ``check_trailing(K, "K", (3, 3))`` accepts ``(3, 3)`` and ``(B, T, 3, 3)``.
    """
    x = check_tensor(x, name)
    n = len(trailing)
    shape = tuple(x.shape)
    ok = len(shape) >= n and all(
        t is None or s == t for s, t in zip(shape[len(shape) - n :], trailing, strict=True)
    )
    if not ok:
        want = "(..., " + ", ".join("*" if t is None else str(t) for t in trailing) + ")"
        raise ValueError(f"{name} must have shape {want}{what}, got {shape}")
    return x


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or infinity."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN or inf)")
    return x


def check_depth(depth: object, name: str = "depth") -> torch.Tensor:
    """Depth maps ``(..., H, W)``: finite and ``>= 0``. ``0`` means unknown; NaN is rejected.

    loci picks *one* marker for unknown depth, 0, and validates it here at the boundary.
    """
    depth = check_tensor(depth, name)
    if depth.dim() < 2:
        raise ValueError(f"{name} must have shape (..., H, W), got {tuple(depth.shape)}")
    if bool(torch.isnan(depth).any()):
        raise ValueError(f"{name} holds NaN; mark unknown depth with 0 instead")
    check_finite(depth, name)
    if bool((depth < 0).any()):
        raise ValueError(f"{name} holds negative values (min {float(depth.min()):.4g}); depth must be >= 0")
    return depth


def check_intrinsics(K: object, name: str = "K") -> torch.Tensor:
    """Intrinsics ``(..., 3, 3)``: positive focal lengths, last row ``[0, 0, 1]``."""
    K = check_trailing(K, name, (3, 3))
    check_finite(K, name)
    if bool((K[..., 0, 0] <= 0).any()) or bool((K[..., 1, 1] <= 0).any()):
        raise ValueError(f"{name} must have positive focal lengths fx, fy")
    last = K.new_tensor([0.0, 0.0, 1.0])
    if not torch.allclose(K[..., 2, :], last.expand_as(K[..., 2, :]), atol=1e-6):
        raise ValueError(f"{name} must have last row [0, 0, 1]")
    return K


def check_rotation(R: object, name: str = "R", atol: float = ROTATION_ATOL) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)``: orthonormal with determinant +1 (within ``atol``)."""
    R = check_trailing(R, name, (3, 3))
    check_finite(R, name)
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    err = (R.transpose(-1, -2) @ R - eye).abs().amax() if R.numel() else R.new_zeros(())
    if float(err) > atol:
        raise ValueError(f"{name} is not orthonormal (max |RᵀR - I| = {float(err):.3g} > {atol})")
    if R.numel() and bool((torch.linalg.det(R) < 0).any()):
        raise ValueError(f"{name} has determinant -1: a reflection, not a rotation")
    return R


def check_pose(T: object, name: str = "pose", atol: float = ROTATION_ATOL) -> torch.Tensor:
    """Rigid transforms ``(..., 4, 4)``: rotation block valid, last row ``[0, 0, 0, 1]``."""
    T = check_trailing(T, name, (4, 4))
    check_finite(T, name)
    check_rotation(T[..., :3, :3], f"{name}[..., :3, :3]", atol)
    last = T.new_tensor([0.0, 0.0, 0.0, 1.0])
    if not torch.allclose(T[..., 3, :], last.expand_as(T[..., 3, :]), atol=1e-6):
        raise ValueError(f"{name} must have last row [0, 0, 0, 1]")
    return T


def check_image(x: object, name: str, channels: int | None = None) -> torch.Tensor:
    """Feature maps ``(..., C, H, W)``, finite; ``channels`` fixes C when given."""
    x = check_tensor(x, name)
    if x.dim() < 3 or (channels is not None and x.shape[-3] != channels):
        c = "C" if channels is None else str(channels)
        raise ValueError(f"{name} must have shape (..., {c}, H, W), got {tuple(x.shape)}")
    return check_finite(x, name)


def check_size(size: object, name: str = "size") -> tuple[int, int]:
    """An image size ``(H, W)`` of two positive ints."""
    if not (isinstance(size, tuple | list) and len(size) == 2 and all(isinstance(s, int) for s in size)):
        raise ValueError(f"{name} must be a pair of ints (H, W), got {size!r}")
    h, w = size
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return int(h), int(w)
