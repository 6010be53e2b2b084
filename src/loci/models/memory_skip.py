"""A full-resolution path from the memory condition to the DiT's velocity.

The DiT sees its inputs through ``patch_size × patch_size`` patches of latents and memory condition
squeezed into ``width`` channels, so detail the memory already holds (the warped latents of frames
seen before) cannot pass through to the output: sampled from noise, the frame comes out as a blurred
average even where the memory covers the view. This head works at latent resolution after the
transformer. From the DiT's velocity, the noisy latents, the memory condition and the flow time, a
small conv net predicts

- a **gate** ``g ∈ [0, 1]`` per latent pixel, forced to 0 where the memory holds nothing (its mask
  channel is not +1), blending towards the velocity that would land exactly on the memory's latents,
  ``v_mem = (x_t − m) / t``;
- a **residual** added to the DiT's velocity (a refiner at full resolution), zero at initialisation.

``v = (1 − g) · (v_dit + r) + g · v_mem``. The gate is learned: it replaces the hand-tuned
compositing of the memory's pixels over the generated ones (``composite``, ``hole_blend``, per-engine
presets) by a decision the model makes per pixel from what it sees. Everything is per frame and local,
so a cached step equals the same frame of a full pass.
"""

from __future__ import annotations

import torch
from torch import nn

GATE_BIAS = -2.0  # sigmoid(-2) = 0.12: the gate starts mostly closed, and can still learn quickly


class MemorySkip(nn.Module):
    """``forward(v, x, t, memory)``: v, x ``(B, T, C, h, w)`` velocity and noisy latents, t ``(B, T)``
    flow time, memory ``(B, T, C + 2, h, w)`` (warped latent, depth code, mask ±1/0) or None → ``(B,
    T, C, h, w)``. ``t_floor``: smallest t the memory velocity divides by."""

    def __init__(self, latent_channels: int, hidden: int, t_floor: float = 0.02) -> None:
        super().__init__()
        c = latent_channels
        self.channels, self.t_floor = c, t_floor
        self.net = nn.Sequential(
            nn.Conv2d(c + c + (c + 2) + 1, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, c + 1, 1),
        )
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        with torch.no_grad():
            last.bias[c] = GATE_BIAS

    def forward(
        self, v: torch.Tensor, x: torch.Tensor, t: torch.Tensor, memory: torch.Tensor | None
    ) -> torch.Tensor:
        B, T, C, h, w = v.shape
        if memory is None:
            memory = v.new_zeros(B, T, C + 2, h, w)
        gate, residual = self.gate_and_residual(v, x, t, memory)
        v_mem = (x - memory[:, :, :C].to(v.dtype)) / t.to(v.dtype)[:, :, None, None, None].clamp(
            min=self.t_floor
        )
        return (1 - gate) * (v + residual) + gate * v_mem

    def gate_and_residual(
        self, v: torch.Tensor, x: torch.Tensor, t: torch.Tensor, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The gate ``(B, T, 1, h, w)`` (0 where the memory's mask is not +1) and the residual ``(B, T,
        C, h, w)``."""
        B, T, C, h, w = v.shape
        if memory.shape != (B, T, C + 2, h, w):
            raise ValueError(f"memory must be {(B, T, C + 2, h, w)}, got {tuple(memory.shape)}")
        memory = memory.to(v.dtype)
        tt = t.to(v.dtype)[:, :, None, None, None].expand(B, T, 1, h, w)
        out = self.net(torch.cat([v, x, memory, tt], 2).flatten(0, 1)).unflatten(0, (B, T))
        gate = torch.sigmoid(out[:, :, C:]) * (memory[:, :, -1:] > 0).to(v.dtype)
        return gate, out[:, :, :C]
