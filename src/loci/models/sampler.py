"""Euler sampler for the flow-matching DiT, with classifier-free guidance per condition.

Convention (Wan/SD3): ``x_t = (1 - t)·x0 + t·noise``, velocity ``v = noise - x0``; sampling integrates
``dx/dt = v`` from ``t = 1`` (noise) to ``t = 0`` with Euler steps ``x ← x + (t_next - t)·v(x, t)``.
The schedule ``t_i = 1 - i/N`` may be shifted, ``t' = s·t / (1 + (s - 1)·t)`` (SD3/Wan ``shift``; ``s > 1``
spends more steps at high noise).

Guidance (DeepVerse eq. 5 / InstructPix2Pix), conditions ``c_1 … c_k`` in the given order::

    v = v(∅) + Σ_i s_i · (v(c_1..c_i) - v(c_1..c_{i-1}))

With every ``s_i = 1`` the sum telescopes to the fully conditional prediction.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .adapters import CONDITION_NAMES, Conditions
from .kv_cache import KVCache, SlotId
from .rope import PositionLayout

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SamplerConfig:
    """steps: Euler steps. shift: time-schedule shift (1 = uniform). guidance: ``(condition, scale)``
    pairs in nesting order, conditions from ``"camera"``, ``"action"``, ``"memory"``; empty = no CFG."""

    steps: int = 8
    shift: float = 1.0
    guidance: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"SamplerConfig.steps must be >= 1, got {self.steps}")
        if self.shift <= 0:
            raise ValueError(f"SamplerConfig.shift must be > 0, got {self.shift}")
        names = [n for n, _ in self.guidance]
        if len(set(names)) != len(names) or set(names) - set(CONDITION_NAMES):
            raise ValueError(
                f"guidance conditions must be distinct names from {CONDITION_NAMES}, got {names}"
            )


def time_schedule(steps: int, shift: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(steps + 1,)`` flow times from 1 down to 0, shifted."""
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=dtype)
    return shift * t / (1 + (shift - 1) * t)


@dataclass(frozen=True)
class Known:
    """Latents known in advance where ``mask`` is True (e.g. the spatial memory warped to the frame):
    ``x0 (B, F, C, h, w)``, ``mask`` broadcastable to it. After every Euler step that ends at a time
    ``t_next > until``, the known region is reset to its point on the straight flow path,
    ``(1 - t_next)·x0 + t_next·noise`` (RePaint-style replacement for rectified flow), so the model
    generates the rest around it; the steps below ``until`` let the model harmonise the seams."""

    x0: torch.Tensor
    mask: torch.Tensor
    until: float = 0.0


def euler(
    velocity: Velocity,
    noise: torch.Tensor,
    schedule: torch.Tensor,
    known: Known | None = None,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Integrate ``velocity(x, t)`` (t a 0-d tensor) along ``schedule`` starting from ``noise``, or,
    with ``init`` (a guess of the clean latents), from its point on the flow path at ``schedule[0]``,
    ``(1 - t)·init + t·noise`` (SDEdit)."""
    t0 = schedule[0].to(noise.dtype)
    x = noise if init is None else (1 - t0) * init + t0 * noise
    for t, t_next in itertools.pairwise(schedule):
        x = x + (t_next - t).to(x.dtype) * velocity(x, t.to(x.dtype))
        if known is not None and float(t_next) > known.until - 1e-9:
            on_path = (1 - t_next).to(x.dtype) * known.x0 + t_next.to(x.dtype) * noise
            x = torch.where(known.mask, on_path, x)
    return x


def guided_velocity(
    predict: Callable[[Conditions], torch.Tensor],
    cond: Conditions,
    guidance: Sequence[tuple[str, float]],
) -> torch.Tensor:
    """Per-condition CFG over ``predict(conditions)``; ``len(guidance) + 1`` evaluations (none if empty)."""
    if not guidance:
        return predict(cond)
    names = [n for n, _ in guidance]
    previous = predict(cond.without(*names))
    v = previous
    for i, (_, scale) in enumerate(guidance):
        current = predict(cond.without(*names[i + 1 :]))
        v = v + scale * (current - previous)
        previous = current
    return v


def sample_chunk(
    model,
    noise: torch.Tensor,
    cache: KVCache,
    attend_slots: Sequence[SlotId],
    start: int,
    cond: Conditions | None = None,
    config: SamplerConfig | None = None,
    layout: PositionLayout = "relative",
    known: Known | None = None,
    init: tuple[torch.Tensor, float] | None = None,
) -> torch.Tensor:
    """Denoise one chunk ``noise (B, F, C, h, w)`` → clean latents, with ``model.step`` on the cache.

    The cache is only read; commit the result afterwards (``model.commit``). ``known``: latents to
    keep where known (:class:`Known`). ``init``: ``(x0 (B, F, C, h, w), t)``, a guess of the result
    to start from at flow time ``t`` (SDEdit): the schedule's steps above ``t`` are skipped.
    """
    config = config or SamplerConfig()
    cond = cond or Conditions()
    B, F_ = noise.shape[:2]

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.expand(B, F_)
        return guided_velocity(
            lambda c: model.step(x, tt, cache, list(attend_slots), start, c, layout), cond, config.guidance
        )

    schedule = time_schedule(config.steps, config.shift, noise.dtype)
    if init is None:
        return euler(velocity, noise, schedule, known)
    x0, t_start = init
    if not 0 < t_start <= 1 or x0.shape != noise.shape:
        raise ValueError(
            f"init needs a start time in (0, 1] and latents {tuple(noise.shape)}, got {t_start}, {tuple(x0.shape)}"
        )
    schedule = torch.cat([schedule.new_tensor([t_start]), schedule[schedule < t_start]])
    return euler(velocity, noise, schedule, known, init=x0)


def few_step_times(steps: int, shift: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(steps,)`` decreasing flow times ``t_0 = 1 > … > t_{steps-1} > 0`` of a few-step student
    (DMD / Self-Forcing: ``[1000, 750, 500, 250]`` for 4 steps, shifted like training)."""
    if steps < 1:
        raise ValueError(f"few-step sampling needs steps >= 1, got {steps}")
    return time_schedule(steps, shift, dtype)[:-1]


def renoise_sample(
    velocity: Velocity,
    noise: torch.Tensor,
    times: torch.Tensor,
    generator: torch.Generator | None = None,
    exit_step: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Few-step sampling of a distilled student (CausVid / Self-Forcing / DMD2).

    At step ``j`` the student predicts the clean latents ``x̂0 = x - t_j·v(x, t_j)``; the next input is
    ``x̂0`` re-noised with fresh noise to ``t_{j+1}``, ``(1 - t_{j+1})·x̂0 + t_{j+1}·ε``. ``exit_step``
    (default the last) returns that step's ``x̂0``: the steps before it run without gradients, the
    exit step keeps the graph (Self-Forcing's stochastic gradient truncation).

    noise: ``(B, F, C, h, w)``; times: ``(S,)`` from :func:`few_step_times`. Returns
    ``(x̂0, x, t)``: the result, the exit step's input and its flow time (0-d).
    """
    S = len(times)
    exit_step = S - 1 if exit_step is None else exit_step
    if not 0 <= exit_step < S:
        raise ValueError(f"exit_step must lie in [0, {S}), got {exit_step}")
    x = noise
    for j in range(exit_step + 1):
        t = times[j].to(x.dtype)
        if j < exit_step:
            with torch.no_grad():
                x0 = x - t * velocity(x, t)
                t_next = times[j + 1].to(x.dtype)
                eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                x = (1 - t_next) * x0 + t_next * eps
        else:
            x0 = x - t * velocity(x, t)
    return x0, x, times[exit_step]
