"""Self-Forcing rollouts: the frame-by-frame cached rollout equals one teacher-forced pass over the
rollout's own frames; gradients reach the student only through each frame's exit step; the memory
of frame i holds the rollout's own earlier frames, warped by the same function training uses."""

import math

import pytest
import torch

from loci.geometry import intrinsics_from_fov
from loci.geometry.se3 import make_pose, so3_exp
from loci.models import (
    CausalDiT,
    Conditions,
    DiTConfig,
    Tokenizer,
    few_step_times,
    latent_plucker,
    renoise_sample,
)
from loci.training.memory_conditions import window_memory_conditions
from loci.training.self_forcing import rollout, rollout_velocity
from tests.training.test_world_training import SIZE, TOK

H, W = SIZE


def student(cond_channels: int = 6, seed: int = 0) -> CausalDiT:
    torch.manual_seed(seed)
    cfg = DiTConfig(
        latent_channels=4,
        cond_channels=cond_channels,
        patch_size=1,
        width=32,
        depth=2,
        heads=2,
        chunk_frames=1,
        max_history=6,
        freq_dim=32,
        camera_hidden=8,
    )
    model = CausalDiT(cfg)
    torch.nn.init.normal_(model.head.head.weight, std=0.05)  # the zero-initialised head would hide everything
    return model


def window(T: int = 5, B: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    K = intrinsics_from_fov((H, W), fov_x_deg=90.0).expand(B, T, 3, 3).clone()
    poses = (
        torch.stack(
            [
                make_pose(
                    so3_exp(torch.tensor([0.0, math.radians(6.0 * i), 0.0])),
                    torch.tensor([0.0, 0.0, 0.2 * i]),
                )
                for i in range(T)
            ]
        )
        .expand(B, T, 4, 4)
        .clone()
    )
    h, w = H // 8, W // 8
    cond = Conditions(
        action=torch.randint(0, 81, (B, T), generator=g),
        plucker=latent_plucker(K, poses, (H, W), (h, w)),
    )
    start = torch.randn(B, 4, h, w, generator=g)
    depth = 2 + 3 * torch.rand(B, H, W, generator=g)
    return start, depth, K, poses, cond


@pytest.mark.parametrize("cond_channels", [0, 6])
def test_cached_rollout_equals_one_teacher_forced_pass(cond_channels):
    model, tok = student(cond_channels), Tokenizer(TOK).eval()
    start, depth, K, poses, cond = window()
    times = few_step_times(4, shift=3.0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        roll = rollout(
            model, tok, start, depth, K, poses, cond, torch.ones(2), times, 6, g, exits=[3, 1, 0, 2]
        )
        v = rollout_velocity(model, roll, roll.exit_inputs, roll.exit_times.expand(2, -1).clone(), cond)
    x0 = roll.exit_inputs - roll.exit_times[None, :, None, None, None] * v
    torch.testing.assert_close(x0, roll.latents[:, 1:], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(roll.latents[:, 0], start)
    assert roll.exit_times.tolist() == pytest.approx([times[e].item() for e in (3, 1, 0, 2)])


def test_memory_is_the_rollouts_own_frames_warped():
    model, tok = student(6), Tokenizer(TOK).eval()
    start, depth, K, poses, cond = window(T=4)
    with torch.no_grad():
        roll = rollout(
            model,
            tok,
            start,
            depth,
            K,
            poses,
            cond,
            torch.ones(2),
            few_step_times(2),
            6,
            torch.Generator().manual_seed(2),
        )
    # frame 3's memory: frames 0-2 of the rollout (their latents and depth), rendered at camera 3
    ref = window_memory_conditions(
        roll.latents, roll.depth, K, poses, torch.ones(2), [3], 1, None, TOK.depth_lambda
    )
    torch.testing.assert_close(roll.memory[:, 2:3], ref)
    torch.testing.assert_close(roll.depth[:, 0], depth)  # the start keeps its true depth
    _, decoded = tok.decode(roll.latents[:, 2], torch.ones(2))
    torch.testing.assert_close(roll.depth[:, 2], decoded)  # generated frames: the decoder's depth
    assert float((roll.memory[:, 0, -1] == 1).float().mean()) > 0.3  # the start is seen by frame 1


def test_gradients_flow_only_through_exit_steps():
    model, tok = student(6), Tokenizer(TOK).eval()
    start, depth, K, poses, cond = window(T=3)
    roll = rollout(
        model,
        tok,
        start,
        depth,
        K,
        poses,
        cond,
        torch.ones(2),
        few_step_times(4),
        6,
        torch.Generator().manual_seed(3),
        exits=[2, 0],
    )
    assert roll.latents.requires_grad and not roll.exit_inputs.requires_grad
    assert not roll.depth.requires_grad and not roll.memory.requires_grad
    roll.latents[:, 1:].square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == ["camera_null"]  # the null camera embedding is unused when rays are given
    assert float(model.patch_embedding.weight.grad.abs().sum()) > 0


def test_renoise_sampler_keeps_only_the_exit_graph():
    w = torch.tensor(0.5, requires_grad=True)
    calls = []

    def velocity(x, t):
        calls.append(torch.is_grad_enabled())
        return w * x

    noise = torch.randn(1, 1, 2, 2, 2)
    x0, x_in, t = renoise_sample(velocity, noise, few_step_times(4), torch.Generator().manual_seed(0), 2)
    assert calls == [False, False, True] and x0.requires_grad and not x_in.requires_grad
    # one step from pure noise: x0 = noise - 1·v = (1 - w)·noise
    x0, x_in, t = renoise_sample(velocity, noise, few_step_times(4), None, 0)
    torch.testing.assert_close(x0, 0.5 * noise) and torch.testing.assert_close(x_in, noise)
    assert float(t) == 1.0
    with pytest.raises(ValueError, match="exit_step"):
        renoise_sample(velocity, noise, few_step_times(4), None, 4)


def test_bad_rollouts_are_refused():
    model, tok = student(6), Tokenizer(TOK).eval()
    start, depth, K, poses, cond = window(T=3)
    times = few_step_times(2)
    with pytest.raises(ValueError, match="window"):
        rollout(model, tok, start, depth, K, poses, cond, torch.ones(2), times, 7)
    with pytest.raises(ValueError, match="exits"):
        rollout(model, tok, start, depth, K, poses, cond, torch.ones(2), times, 4, exits=[0])
    with pytest.raises(ValueError, match="start latents"):
        rollout(model, tok, start[:, :2], depth, K, poses, cond, torch.ones(2), times, 4)
    with pytest.raises(ValueError, match="at least 2 frames"):
        rollout(model, tok, start, depth, K[:, :1], poses[:, :1], cond.frames(0, 1), torch.ones(2), times, 4)
