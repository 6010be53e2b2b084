"""Condition adapters: flow-time sinusoid, per-frame action embedding, Plücker camera adapter, and the
``Conditions`` bundle with its dropout hooks for per-condition classifier-free guidance.

- Camera (WorldScape, Fig. 3a): per-frame Plücker maps at latent resolution ``(B, T, 6, h, w)`` are
  pixel-unshuffled by the patch size, run through a small residual conv stack and *added* to the patch
  tokens. 2-D convs per frame only, so the adapter cannot leak information across frames.
- Action: one embedding per frame, added to the flow-time embedding before the adaLN projection (so it
  modulates every block and the head, as a second "time"). Index ``num_actions`` is the null action.
- Dropping a condition swaps in a learned null embedding (the action's null row, ``camera_null`` for the
  camera); a missing memory condition is zeros (InSpatio-World zero-pads it on history frames).
New adapters start at zero output, so a loaded backbone is unchanged until they are trained.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from loci.geometry import plucker

CONDITION_NAMES: tuple[str, ...] = ("action", "camera", "memory")


def sinusoidal_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """``(..., dim)`` = ``[cos, sin](scale·t · 10000^(-i/half))`` (Wan's ``sinusoidal_embedding_1d`` of ``1000·t``)."""
    if dim % 2:
        raise ValueError(f"sinusoidal embedding dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=t.dtype, device=t.device) / half)
    angles = (scale * t)[..., None] * freqs
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class ActionEmbedding(nn.Module):
    """``(B, T)`` action ids in ``[0, num_actions]`` → ``(B, T, dim)``; id ``num_actions`` is the null action."""

    def __init__(self, num_actions: int, dim: int) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.embedding = nn.Embedding(num_actions + 1, dim)
        nn.init.zeros_(self.embedding.weight)

    @property
    def null_id(self) -> int:
        return self.num_actions

    def forward(self, action: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        if drop is not None:
            action = torch.where(drop[:, None], torch.full_like(action, self.null_id), action)
        return self.embedding(action)


class ResidualConv(nn.Module):
    """``x + conv(silu(conv(silu(x))))`` with 3×3 convs."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class PluckerAdapter(nn.Module):
    """Plücker maps ``(N, 6, h, w)`` → token features ``(N, dim, h/p, w/p)`` (pixel-unshuffle, convs)."""

    def __init__(self, patch: int, hidden: int, dim: int, blocks: int = 1) -> None:
        super().__init__()
        self.patch = patch
        self.stem = nn.Conv2d(6 * patch * patch, hidden, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualConv(hidden) for _ in range(blocks)))
        self.out = nn.Conv2d(hidden, dim, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, rays: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(rays, self.patch) if self.patch > 1 else rays
        return self.out(F.silu(self.blocks(self.stem(x))))


def latent_plucker(
    K: torch.Tensor, c2w: torch.Tensor, image_size: tuple[int, int], latent_size: tuple[int, int]
) -> torch.Tensor:
    """Plücker maps ``(..., 6, h, w)`` at latent resolution from pixel intrinsics ``K (..., 3, 3)`` and poses.

    The stride is the tokenizer's downsampling ``H/h = W/w``; the DiT's patching is done by the adapter.
    """
    (H, W), (h, w) = image_size, latent_size
    if H % h or W % w or H // h != W // w:
        raise ValueError(
            f"latent size {latent_size} is not an integer downsampling of image size {image_size}"
        )
    return plucker(K, c2w, (H, W), stride=H // h)


@dataclass(frozen=True)
class Conditions:
    """Per-frame conditions of a sequence or chunk; every field optional.

    action: ``(B, T)`` long ids in ``[0, num_actions]``; None = null action.
    plucker: ``(B, T, 6, h, w)`` Plücker maps at latent resolution; None = null camera embedding.
    memory: ``(B, T, cond_channels, h, w)`` channels concatenated on the latents (warped latent, depth,
    validity mask); None = zeros.
    drop_action, drop_camera: ``(B,)`` bool, True = that sample uses the null embedding (CFG dropout).
    """

    action: torch.Tensor | None = None
    plucker: torch.Tensor | None = None
    memory: torch.Tensor | None = None
    drop_action: torch.Tensor | None = None
    drop_camera: torch.Tensor | None = None

    def frames(self, start: int, stop: int) -> Conditions:
        """The conditions of frames ``[start, stop)``."""
        cut = {
            name: getattr(self, name)[:, start:stop] if getattr(self, name) is not None else None
            for name in ("action", "plucker", "memory")
        }
        return dataclasses.replace(self, **cut)

    def without(self, *names: str) -> Conditions:
        """These conditions with ``names`` (of ``"action"``, ``"camera"``, ``"memory"``) made null."""
        unknown = set(names) - set(CONDITION_NAMES)
        if unknown:
            raise ValueError(f"unknown condition(s) {sorted(unknown)}; known: {CONDITION_NAMES}")
        fields = {
            "action": ("action", "drop_action"),
            "camera": ("plucker", "drop_camera"),
            "memory": ("memory",),
        }
        return dataclasses.replace(self, **{f: None for n in names for f in fields[n]})


def drop_conditions(
    cond: Conditions,
    batch: int,
    p_action: float = 0.0,
    p_camera: float = 0.0,
    p_memory: float = 0.0,
    generator: torch.Generator | None = None,
) -> Conditions:
    """Training hook: drop each condition per sample with its probability (independent draws)."""
    device = next((t.device for t in (cond.action, cond.plucker, cond.memory) if t is not None), None)

    def draw(p: float) -> torch.Tensor:
        return torch.rand(batch, generator=generator, device=device) < p

    memory = cond.memory
    if memory is not None and p_memory > 0:
        memory = memory * (~draw(p_memory)).to(memory.dtype)[:, None, None, None, None]
    return dataclasses.replace(cond, drop_action=draw(p_action), drop_camera=draw(p_camera), memory=memory)
