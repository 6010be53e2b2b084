"""3D rotary positions over (frame, row, col), Wan-2.1 style, plus the temporal layout of a cached chunk.

Wan-2.1 splits a head's ``head_dim = d`` channels into a temporal part of ``d - 4·(d//6)`` channels and
a row and a column part of ``2·(d//6)`` channels each; each part rotates consecutive channel pairs
``(x[2i], x[2i+1])`` by ``position · theta^(-2i/part)`` (Wan's ``rope_params`` / ``rope_apply``, which use
complex numbers over the same pairs). Positions are given as float tensors, so any position (negative,
fractional, far beyond training) is computed directly: there are no tables to outgrow.

Position fixing (InSpatio-World, Sec. 3.2.1): keys sit in the KV cache *without* rotary applied. At
attention time :func:`chunk_positions` gives the current chunk the fixed temporal positions
``origin + [0, F)`` and each attended cache slot a position relative to the chunk:

- ``"relative"``: the slot's true offset, ``origin + (frame - start)``. Because rotary scores depend only
  on position differences, this equals the full-sequence forward exactly (the equivalence test).
- ``"packed"``: the attended slots, in the order given (oldest first), sit contiguously right before the
  chunk, ``origin - S + [0, S)``, whatever their true frames. A sink/reference frame 300 chunks back
  then keeps the same position as at chunk 3: rollouts run past the training length without drift.
  For a contiguous window right before the chunk, ``"packed"`` equals ``"relative"``.
"""

from __future__ import annotations

from typing import Literal

import torch

PositionLayout = Literal["relative", "packed"]
LAYOUTS: tuple[str, ...] = ("relative", "packed")


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """Channels of a head given to (frame, row, col) rotation, Wan-2.1's split; each part is even."""
    if head_dim % 2 or head_dim < 8:
        raise ValueError(f"head_dim must be even and >= 8 for 3D rotary positions, got {head_dim}")
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


def rope_frequencies(dim: int, theta: float, dtype: torch.dtype, device: torch.device | None = None):
    """``theta^(-2i/dim)`` for ``i < dim/2`` (Wan's ``rope_params`` before the outer product)."""
    return 1.0 / theta ** (torch.arange(0, dim, 2, dtype=dtype, device=device) / dim)


def rope_angles(
    frames: torch.Tensor,
    rows: int,
    cols: int,
    head_dim: int,
    theta: float = 10000.0,
    row_offset: float = 0.0,
    col_offset: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` each ``(T·rows·cols, head_dim/2)`` for tokens ordered frame-major, then row, col.

    frames: ``(T,)`` temporal positions (float; any values). Rows and columns count from the offsets.
    """
    if frames.ndim != 1:
        raise ValueError(f"frames must be 1-D (T,), got shape {tuple(frames.shape)}")
    dtype, device = frames.dtype, frames.device
    if not dtype.is_floating_point:
        raise ValueError(f"frame positions must be a float tensor, got {dtype}")
    dt, dh, dw = rope_split(head_dim)
    a_t = frames[:, None] * rope_frequencies(dt, theta, dtype, device)
    r = torch.arange(rows, dtype=dtype, device=device) + row_offset
    c = torch.arange(cols, dtype=dtype, device=device) + col_offset
    a_h = r[:, None] * rope_frequencies(dh, theta, dtype, device)
    a_w = c[:, None] * rope_frequencies(dw, theta, dtype, device)
    T = frames.shape[0]
    angles = torch.cat(
        [
            a_t[:, None, None, :].expand(T, rows, cols, -1),
            a_h[None, :, None, :].expand(T, rows, cols, -1),
            a_w[None, None, :, :].expand(T, rows, cols, -1),
        ],
        dim=-1,
    ).reshape(T * rows * cols, head_dim // 2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of ``x (B, L, heads, head_dim)`` by angles ``(L, head_dim/2)``."""
    if x.shape[1] != cos.shape[0] or x.shape[-1] != 2 * cos.shape[-1]:
        raise ValueError(f"rotary angles {tuple(cos.shape)} do not fit x of shape {tuple(x.shape)}")
    pairs = x.unflatten(-1, (-1, 2))
    x0, x1 = pairs[..., 0], pairs[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)


def chunk_positions(
    slot_frames: torch.Tensor,
    start: int,
    chunk_frames: int,
    origin: int,
    layout: PositionLayout,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal rotary positions ``(context (S,), chunk (F,))`` of a chunk starting at frame ``start``.

    The chunk always sits at ``origin + [0, F)``; see the module docstring for the two layouts.
    slot_frames: ``(S,)`` true frame indices of the attended cache slots, in attention order; positions
    come back in ``dtype``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"position layout must be one of {LAYOUTS}, got {layout!r}")
    chunk = origin + torch.arange(chunk_frames, dtype=dtype, device=slot_frames.device)
    S = slot_frames.shape[0]
    if layout == "relative":
        context = origin + (slot_frames.to(dtype) - start)
    else:
        context = origin - S + torch.arange(S, dtype=dtype, device=slot_frames.device)
    return context, chunk
