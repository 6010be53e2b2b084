"""Self-Forcing: the causal student rolled out on its own outputs, exactly as the world runs it.

One rollout of a training window (Self-Forcing's ``pipeline/self_forcing_training.py``, with loci's
spatial memory inside the loop): the true start frame's latents are committed to a fresh KV cache;
then, frame by frame, the student

1. sees its memory — the latents of every earlier frame of *this rollout* (the start and its own
   generated frames), lifted by their depth (the start's true depth, the generated frames' decoded
   depth) and warped to the frame's camera (:func:`loci.training.memory_conditions.window_memory_conditions`,
   the latent memory's render at play time);
2. samples the frame with its few-step sampler (:func:`loci.models.renoise_sample`) attending to a
   sliding window of the cache; only the frame's exit step (drawn per frame) keeps its graph, so the
   loss reaches the student through every frame it made but memory stays bounded (stochastic
   gradient truncation);
3. commits the (detached) frame to the cache without its memory channels and decodes its depth
   (no gradients), which the next frames' memory lifts it by.

The loss (DMD, ``loci.training.dmd``) then sees whole rollouts, so the student learns to work from
its own mistakes instead of the teacher-forced history it never gets at play time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from loci.models import CausalDiT, Conditions, Tokenizer, evict_except, renoise_sample, sliding_window

from .memory_conditions import window_memory_conditions


@dataclass(frozen=True, eq=False)
class SelfRollout:
    """One rollout of ``T`` frames: ``latents (B, T, C, h, w)`` (frame 0 the true start, frames 1… the
    student's, each with the graph of its exit step), ``depth (B, T, H, W)`` metres (the start's
    truth, the others decoded; no graph), ``memory (B, T-1, C+2, h, w)`` the memory channels frames
    1… were generated with, ``exit_inputs (B, T-1, C, h, w)`` and ``exit_times (T-1,)``: each frame's
    input and flow time at its exit step (for checks against a full-sequence pass)."""

    latents: torch.Tensor
    depth: torch.Tensor
    memory: torch.Tensor | None
    exit_inputs: torch.Tensor
    exit_times: torch.Tensor


def rollout(
    student: CausalDiT,
    tokenizer: Tokenizer,
    start: torch.Tensor,
    start_depth: torch.Tensor,
    K: torch.Tensor,
    poses: torch.Tensor,
    cond: Conditions,
    scale: torch.Tensor,
    times: torch.Tensor,
    window: int,
    generator: torch.Generator | None = None,
    exits: Sequence[int] | None = None,
) -> SelfRollout:
    """Roll ``student`` out over ``T = poses.shape[1]`` frames from ``start``.

    start: ``(B, C, h, w)`` the true first frame's latents; start_depth: ``(B, H, W)`` metres; K:
    ``(B, T, 3, 3)`` pixel intrinsics; poses: ``(B, T, 4, 4)`` camera-to-world; cond: Plücker rays and
    actions of all ``T`` frames (no memory; it is built here); scale: ``(B,)`` the tokenizer's depth
    scale of the window; times: ``(S,)`` the few-step schedule; window: history frames attended (≤
    the model's ``max_history``); exits: each generated frame's exit step (default: drawn uniformly).
    A student without memory channels (``cond_channels = 0``) runs without memory.
    """
    c = student.config
    if c.chunk_frames != 1:
        raise ValueError(
            f"Self-Forcing rollouts generate one frame per chunk, got chunk_frames={c.chunk_frames}"
        )
    B, T = poses.shape[:2]
    if T < 2:
        raise ValueError(f"a rollout needs at least 2 frames (the start and one generated), got {T}")
    if start.ndim != 4 or start.shape[:2] != (B, c.latent_channels):
        raise ValueError(
            f"start latents must be (B, {c.latent_channels}, h, w) with B={B}, got {tuple(start.shape)}"
        )
    if not 1 <= window <= c.max_history:
        raise ValueError(f"window must lie in [1, max_history={c.max_history}], got {window}")
    S = len(times)
    if exits is None:
        exits = torch.randint(0, S, (T - 1,), generator=generator).tolist()
    exits = list(exits)
    if len(exits) != T - 1:
        raise ValueError(f"exits must name one step per generated frame ({T - 1}), got {len(exits)}")
    latent = tuple(start.shape[-2:])
    cache = student.new_cache(B, latent, capacity=window + 1)
    plain = cond.without("memory")
    with torch.no_grad():
        student.commit(start[:, None].detach(), cache, [0], [], 0, plain.frames(0, 1))
    frames, depths = [start[:, None]], [start_depth]
    memories, inputs, exit_times = [], [], []
    for i in range(1, T):
        attend = sliding_window(cache.slots, window)
        mem = None
        if c.cond_channels:
            with torch.no_grad():
                history = torch.cat([f.detach() for f in frames] + [torch.zeros_like(frames[0])], 1)
                mem = window_memory_conditions(
                    history,
                    torch.stack([*depths, torch.zeros_like(depths[0])], 1),
                    K[:, : i + 1],
                    poses[:, : i + 1],
                    scale,
                    [i],
                    1,
                    None,
                    tokenizer.cfg.depth_lambda,
                )
            memories.append(mem)
        step_cond = dataclasses.replace(plain.frames(i, i + 1), memory=mem)

        def velocity(x: torch.Tensor, t: torch.Tensor, i=i, attend=attend, step_cond=step_cond):
            return student.step(x, t.expand(B, 1), cache, attend, i, step_cond)

        noise = torch.randn(B, 1, c.latent_channels, *latent, generator=generator)
        z, x_in, t_exit = renoise_sample(velocity, noise, times, generator, exits[i - 1])
        with torch.no_grad():
            student.commit(z.detach(), cache, [i], attend, i, plain.frames(i, i + 1))
            evict_except(cache, sliding_window(cache.slots, window))
            _, depth = tokenizer.decode(z[:, 0].detach(), scale)
        frames.append(z)
        depths.append(depth)
        inputs.append(x_in.detach())
        exit_times.append(t_exit)
    return SelfRollout(
        latents=torch.cat(frames, 1),
        depth=torch.stack(depths, 1),
        memory=torch.cat(memories, 1) if memories else None,
        exit_inputs=torch.cat(inputs, 1),
        exit_times=torch.stack(exit_times),
    )


def rollout_velocity(
    model: CausalDiT, roll: SelfRollout, x_t: torch.Tensor, t: torch.Tensor, cond: Conditions
) -> torch.Tensor:
    """``model``'s velocity ``(B, T-1, C, h, w)`` at noisy copies ``x_t`` of a rollout's generated frames
    (flow times ``t (B, T-1)``), each seeing the rollout's earlier frames as clean history (the KV
    cache it had) and its own memory channels: one teacher-forced pass (the teacher's real score and
    the critic's fake score of DMD). cond: Plücker rays and actions of all ``T`` frames."""
    T = roll.latents.shape[1]
    plain = cond.without("memory")
    noisy = dataclasses.replace(plain.frames(1, T), memory=roll.memory)
    return model.teacher_forced(roll.latents.detach(), x_t, list(range(1, T)), t, plain, noisy)
