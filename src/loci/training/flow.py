"""Rectified flow (flow matching) for the world model: noising, time sampling, velocity targets.

Convention (SD3 / Wan-2.1): ``x_t = (1 - t) · x0 + t · ε`` with ``t ∈ [0, 1]`` (``t = 0`` clean,
``t = 1`` pure noise); the network predicts the velocity ``v = ε - x0``; sampling integrates
``dx/dt = v`` from ``t = 1`` down to ``0``. Times are per frame (diffusion forcing): every latent
frame of a window gets its own noise level, and history frames may be lightly noised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class FlowConfig:
    """time_sampling: ``logit_normal`` (SD3: ``t = sigmoid(N(mean, std))``) or ``uniform``.
    shift: SD3/Wan time shift ``t' = s·t / (1 + (s - 1)·t)`` (> 1 spends more steps at high noise).
    per_frame: independent times per frame (diffusion forcing) instead of one per sample.
    history_frames / history_noise: the first frames of a window are context: their time is
    drawn from ``[0, history_noise]`` (0 = clean history)."""

    time_sampling: Literal["logit_normal", "uniform"] = "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift: float = 1.0
    per_frame: bool = True
    history_frames: int = 0
    history_noise: float = 0.0

    def __post_init__(self) -> None:
        if self.shift <= 0 or self.logit_std <= 0 or not 0 <= self.history_noise <= 1:
            raise ValueError(f"invalid FlowConfig {self}")


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """SD3/Wan time shift, a monotone map of ``[0, 1]`` onto itself (identity for ``shift = 1``)."""
    return shift * t / (1 + (shift - 1) * t)


def sample_times(
    batch: int, frames: int, cfg: FlowConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Flow times ``(batch, frames)`` in ``(0, 1)``."""
    n = frames if cfg.per_frame else 1
    if cfg.time_sampling == "logit_normal":
        t = torch.sigmoid(torch.randn(batch, n, generator=generator) * cfg.logit_std + cfg.logit_mean)
    else:
        t = torch.rand(batch, n, generator=generator)
    t = shift_time(t, cfg.shift).expand(batch, frames).clone()
    h = min(cfg.history_frames, frames)
    if h:
        t[:, :h] = torch.rand(batch, h, generator=generator) * cfg.history_noise
    return t


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``x_t = (1 - t) x0 + t ε`` for latents ``(B, T, C, h, w)`` and times ``(B, T)``."""
    tt = t[:, :, None, None, None].to(x0.dtype)
    return (1 - tt) * x0 + tt * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The velocity the network learns, ``ε - x0`` ``(B, T, C, h, w)``."""
    return noise - x0


def flow_loss(
    pred: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, frame_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared velocity error; ``frame_weight (B, T)`` (e.g. 0 for clean history frames)."""
    err = ((pred - velocity_target(x0, noise)) ** 2).mean(dim=(2, 3, 4))  # (B, T)
    if frame_weight is None:
        return err.mean()
    w = frame_weight.to(err.dtype)
    return (err * w).sum() / w.sum().clamp_min(1e-8)


def euler_times(steps: int, shift: float = 1.0) -> torch.Tensor:
    """The ``steps + 1`` decreasing times ``1 → 0`` of an Euler sampler (shifted like training)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1), shift)


def logit_normal_pdf(t: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """Density of the logit-normal time distribution (for tests and plots)."""
    logit = torch.log(t / (1 - t))
    return torch.exp(-((logit - mean) ** 2) / (2 * std**2)) / (std * math.sqrt(2 * math.pi) * t * (1 - t))
