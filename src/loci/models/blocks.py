"""Wan-2.1-style transformer pieces: RMS-normalised q/k self-attention with 3D rotary, GELU-tanh MLP,
adaLN modulation (shift/scale/gate) per frame, and the output head.

Parameter names follow Wan-2.1's ``WanAttentionBlock`` so a later adapter can load public weights (the
text cross-attention ``cross_attn``/``norm3`` has no counterpart here and would be dropped):

=====================  ===========================================
here                   Wan-2.1 (``wan/modules/model.py``)
=====================  ===========================================
``self_attn.q/k/v/o``  ``blocks.i.self_attn.q/k/v/o``
``self_attn.norm_q/k`` ``blocks.i.self_attn.norm_q/norm_k`` (RMS over the full width)
``norm1``, ``norm2``   ``blocks.i.norm1/norm2`` (LayerNorm, no affine)
``ffn.0``, ``ffn.2``   ``blocks.i.ffn.0/2`` (GELU tanh between)
``modulation``         ``blocks.i.modulation`` ``(1, 6, dim)``
``Head.head/norm``     ``head.head``, ``head.norm``; ``Head.modulation`` = ``head.modulation`` ``(1, 2, dim)``
=====================  ===========================================

Tokens are kept as ``(B, T, n, dim)`` (frames × tokens per frame) so that each frame gets its own
modulation from its own flow time (diffusion forcing).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .rope import apply_rope


class RMSNorm(nn.Module):
    """``x / rms(x) · weight`` over the last dim (Wan's ``WanRMSNorm``)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


@dataclass(frozen=True)
class Rotary:
    """Rotary angles ``(cos, sin)`` each ``(L, head_dim/2)`` for a token sequence."""

    cos: torch.Tensor
    sin: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return apply_rope(x, self.cos, self.sin)


@dataclass(frozen=True)
class AttentionContext:
    """Cached frames a chunk attends to in one layer: unrotated keys, values ``(B, S·n, heads, head_dim)``."""

    keys: torch.Tensor
    values: torch.Tensor
    rotary: Rotary


class SelfAttention(nn.Module):
    """Multi-head self-attention with RMS-normalised q and k (over the full width, as Wan) and 3D rotary."""

    def __init__(self, dim: int, heads: int, eps: float = 1e-6) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by heads {heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x (B, L, dim)`` → normalised, *unrotated* q, k and v, each ``(B, L, heads, head_dim)``."""
        split = (self.heads, self.head_dim)
        q = self.norm_q(self.q(x)).unflatten(-1, split)
        k = self.norm_k(self.k(x)).unflatten(-1, split)
        return q, k, self.v(x).unflatten(-1, split)

    def forward(
        self,
        x: torch.Tensor,
        rotary: Rotary,
        mask: torch.Tensor | None = None,
        context: AttentionContext | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attend ``x (B, L, dim)``; returns the output and this input's unrotated ``k, v``.

        mask: ``(L, L)`` bool, True = may attend (full-sequence mode). context: cached frames placed
        before ``x``'s own keys, all visible (chunk mode: bidirectional within the chunk).
        """
        q, k, v = self.project(x)
        keys, vals = rotary(k), v
        if context is not None:
            keys = torch.cat([context.rotary(context.keys), keys], dim=1)
            vals = torch.cat([context.values, vals], dim=1)
        out = F.scaled_dot_product_attention(
            rotary(q).transpose(1, 2), keys.transpose(1, 2), vals.transpose(1, 2), attn_mask=mask
        )
        return self.o(out.transpose(1, 2).flatten(2)), k, v


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: ``x · (1 + scale) + shift``, per frame (``x (B, T, n, dim)``, shift/scale ``(B, T, 1, dim)``)."""
    return x * (1 + scale) + shift


class DiTBlock(nn.Module):
    """One Wan-2.1 attention block without text cross-attention.

    ``e (B, T, 6, dim)`` is the projected flow-time (+ action) embedding per frame; with the block's own
    ``modulation (1, 6, dim)`` it gives shift/scale/gate for attention (0-2) and MLP (3-5).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, eps: float = 1e-6) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)
        self.self_attn = SelfAttention(dim, heads, eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(
        self,
        x: torch.Tensor,
        e: torch.Tensor,
        rotary: Rotary,
        mask: torch.Tensor | None = None,
        context: AttentionContext | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x (B, T, n, dim)`` → same shape, plus this block's unrotated ``k, v (B, T·n, heads, head_dim)``."""
        B, T, n, dim = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self._modulation(e)
        h = modulate(self.norm1(x), shift1, scale1).reshape(B, T * n, dim)
        y, k, v = self.self_attn(h, rotary, mask=mask, context=context)
        x = x + y.view(B, T, n, dim) * gate1
        x = x + self.ffn(modulate(self.norm2(x), shift2, scale2)) * gate2
        return x, k, v

    def keys_values(self, x: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Only this block's unrotated ``k, v`` for ``x`` (what :meth:`forward` returns, without the rest)."""
        shift1, scale1 = self._modulation(e)[:2]
        _, k, v = self.self_attn.project(modulate(self.norm1(x), shift1, scale1).flatten(1, 2))
        return k, v

    def _modulation(self, e: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Six ``(B, T, 1, dim)`` tensors: shift/scale/gate for attention, then for the MLP."""
        return (self.modulation[:, None] + e).unsqueeze(3).unbind(2)


class Head(nn.Module):
    """Output head: modulated LayerNorm then a linear map to ``patch² · out_channels`` per token."""

    def __init__(self, dim: int, out_channels: int, patch: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)
        self.head = nn.Linear(dim, patch * patch * out_channels)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``x (B, T, n, dim)``, ``e (B, T, dim)`` (time embedding before projection) → ``(B, T, n, p²·C)``."""
        shift, scale = (self.modulation[:, None] + e[:, :, None]).unsqueeze(3).unbind(2)
        return self.head(modulate(self.norm(x), shift, scale))


def block_causal_mask(frames: int, chunk_frames: int, tokens_per_frame: int, device=None) -> torch.Tensor:
    """``(L, L)`` bool, L = frames·n: a token sees every token of its own chunk and of earlier chunks."""
    chunk = torch.arange(frames, device=device) // chunk_frames
    chunk = chunk.repeat_interleave(tokens_per_frame)
    return chunk[:, None] >= chunk[None, :]


def teacher_forcing_mask(
    frames: int, targets: list[int], chunk_frames: int, tokens_per_frame: int, device=None
) -> torch.Tensor:
    """``(L, L)`` bool for ``frames`` clean frames followed by noisy copies of frames ``targets``.

    A clean frame sees the clean frames of its own and earlier chunks (block-causal); a noisy copy of
    frame ``i`` sees the clean frames of earlier chunks and the noisy copies of its own chunk: exactly
    what a chunk generated on a cache of clean frames sees (CausVid's teacher forcing).
    """
    clean = torch.arange(frames, device=device) // chunk_frames
    noisy = torch.as_tensor(targets, device=device, dtype=torch.long) // chunk_frames
    chunk = torch.cat([clean, noisy]).repeat_interleave(tokens_per_frame)
    is_noisy = torch.cat(
        [
            torch.zeros(frames, dtype=torch.bool, device=device),
            torch.ones(len(targets), dtype=torch.bool, device=device),
        ]
    ).repeat_interleave(tokens_per_frame)
    q_chunk, k_chunk = chunk[:, None], chunk[None, :]
    q_noisy, k_noisy = is_noisy[:, None], is_noisy[None, :]
    clean_rows = ~q_noisy & ~k_noisy & (k_chunk <= q_chunk)
    noisy_rows = q_noisy & ((~k_noisy & (k_chunk < q_chunk)) | (k_noisy & (k_chunk == q_chunk)))
    return clean_rows | noisy_rows
