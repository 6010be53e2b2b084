"""Distribution Matching Distillation (DMD2, as Self-Forcing trains its student) for flow models.

The student's samples ``x0`` are pushed toward the teacher's distribution by the difference of two
denoisers at a random noise level: the frozen teacher (the *real* score) and a trainable critic that
keeps fitting the student's own samples (the *fake* score). With both given as velocity predictors
(loci's convention ``x_t = (1 - t)·x0 + t·ε``, ``v = ε - x0``, so ``x̂0 = x_t - t·v``), the gradient
of the reverse KL with respect to a sample is, up to a positive weight,

    ∇ = (x̂0_fake - x̂0_real) / mean|x0 - x̂0_real|

(DMD eq. 7 with its per-sample normaliser; Self-Forcing ``model/dmd.py``). :func:`dmd_loss` turns it
into a loss whose gradient is exactly ``∇`` (``0.5·‖x0 - sg(x0 - ∇)‖²`` averaged), so any optimiser
steps ``x0`` toward the teacher's denoising and away from the critic's. The critic learns by plain
flow matching on the student's detached samples (:func:`critic_loss`); DMD2 updates it several
times per student update (two time-scale rule). No regression set is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .flow import add_noise, flow_loss, shift_time

# velocity of noisy latents (B, T, C, h, w) at flow times (B, T)
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DMDConfig:
    """min_t / max_t: the flow times of the score difference are drawn uniformly in this range
    (DMD's 0.02–0.98), then shifted by ``shift`` (SD3/Wan, > 1 favours high noise). per_frame: one
    time per frame (else per sample)."""

    min_t: float = 0.02
    max_t: float = 0.98
    shift: float = 1.0
    per_frame: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_t < self.max_t < 1:
            raise ValueError(f"DMDConfig needs 0 < min_t < max_t < 1, got {self.min_t}, {self.max_t}")
        if self.shift <= 0:
            raise ValueError(f"DMDConfig.shift must be > 0, got {self.shift}")


def x0_from_velocity(x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Clean latents ``x_t - t·v`` of a velocity prediction; ``x_t, v (B, T, C, h, w)``, ``t (B, T)``."""
    return x_t - t[:, :, None, None, None].to(x_t.dtype) * v


def dmd_times(batch: int, frames: int, cfg: DMDConfig, generator: torch.Generator | None = None):
    """Flow times ``(batch, frames)`` of the score difference."""
    n = frames if cfg.per_frame else 1
    t = cfg.min_t + (cfg.max_t - cfg.min_t) * torch.rand(batch, n, generator=generator)
    return shift_time(t, cfg.shift).expand(batch, frames).clone()


def dmd_gradient(
    x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, v_real: torch.Tensor, v_fake: torch.Tensor
) -> torch.Tensor:
    """The normalised DMD gradient ``(B, T, C, h, w)`` at samples ``x0`` noised to ``x_t`` at ``t (B, T)``,
    from the teacher's and the critic's velocities there (all detached; NaN-free)."""
    with torch.no_grad():
        real = x0_from_velocity(x_t, t, v_real)
        fake = x0_from_velocity(x_t, t, v_fake)
        norm = (x0 - real).abs().mean(dim=(2, 3, 4), keepdim=True).clamp_min(1e-6)
        return torch.nan_to_num((fake - real) / norm)


def dmd_loss(x0: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``0.5·mean((x0 - sg(x0 - grad))²)``: its gradient with respect to ``x0`` is ``grad / x0.numel()``."""
    return 0.5 * ((x0 - (x0 - grad).detach()) ** 2).mean()


@dataclass(frozen=True)
class DMDStep:
    """One DMD evaluation: ``loss`` (scalar, differentiable in the samples), ``grad`` its direction,
    ``t (B, T)`` the times used, and the mean absolute gap ``|x̂0_fake - x̂0_real|`` (a training signal:
    it shrinks as the student's distribution meets the teacher's)."""

    loss: torch.Tensor
    grad: torch.Tensor
    t: torch.Tensor
    gap: float


def dmd_step(
    x0: torch.Tensor,
    real: Denoiser,
    fake: Denoiser,
    cfg: DMDConfig,
    generator: torch.Generator | None = None,
) -> DMDStep:
    """The DMD loss of student samples ``x0 (B, T, C, h, w)`` (with their graph) against ``real`` (the
    frozen teacher) and ``fake`` (the critic), evaluated without gradients at fresh noise."""
    B, T = x0.shape[:2]
    t = dmd_times(B, T, cfg, generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    with torch.no_grad():
        x_t = add_noise(x0.detach(), noise, t)
        v_real, v_fake = real(x_t, t), fake(x_t, t)
    grad = dmd_gradient(x0.detach(), x_t, t, v_real, v_fake)
    gap = float((x0_from_velocity(x_t, t, v_fake) - x0_from_velocity(x_t, t, v_real)).abs().mean())
    return DMDStep(dmd_loss(x0, grad), grad, t, gap)


def critic_loss(
    fake: Denoiser,
    x0: torch.Tensor,
    cfg: DMDConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Flow-matching loss of the critic on the student's samples ``x0 (B, T, C, h, w)`` (detached here)."""
    x0 = x0.detach()
    B, T = x0.shape[:2]
    t = dmd_times(B, T, cfg, generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    return flow_loss(fake(add_noise(x0, noise, t), t).float(), x0.float(), noise.float())
