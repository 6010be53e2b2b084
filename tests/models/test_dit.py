"""Causal DiT: cached chunk generation equals the block-causal full forward, causality, position fixing
(no drift at chunk 300), condition null hooks, the Euler sampler and CFG, shapes and input errors."""

import dataclasses
import math

import pytest
import torch

from loci.models.adapters import Conditions, drop_conditions, latent_plucker
from loci.models.dit import CausalDiT, DiTConfig
from loci.models.kv_cache import sink_and_window, sliding_window
from loci.models.sampler import Known, SamplerConfig, euler, guided_velocity, sample_chunk, time_schedule

TINY = DiTConfig(
    latent_channels=3,
    cond_channels=2,
    patch_size=2,
    width=32,
    depth=2,
    heads=2,
    mlp_ratio=2.0,
    chunk_frames=2,
    max_history=6,
    num_actions=5,
    freq_dim=16,
    camera_hidden=8,
)


def tiny_model(seed: int = 0, **overrides) -> CausalDiT:
    """A float64 tiny DiT with every parameter random (the zero-initialised head and adapters too)."""
    torch.manual_seed(seed)
    model = CausalDiT(dataclasses.replace(TINY, **overrides)).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            std = 1.0 / math.sqrt(p[0].numel()) if p.ndim >= 2 else 0.5
            p.normal_(0.0, std)
    return model


def inputs(model: CausalDiT, B=2, T=8, size=(4, 6), conditioned=True, seed=1):
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    h, w = size
    x = torch.randn(B, T, cfg.latent_channels, h, w, generator=g, dtype=torch.float64)
    t = torch.rand(B, T, generator=g, dtype=torch.float64)  # per-frame times: diffusion forcing
    if not conditioned:
        return x, t, None
    cond = Conditions(
        action=torch.randint(0, cfg.num_actions + 1, (B, T), generator=g),
        plucker=torch.randn(B, T, 6, h, w, generator=g, dtype=torch.float64),
        memory=torch.randn(B, T, cfg.cond_channels, h, w, generator=g, dtype=torch.float64),
    )
    return x, t, cond


def cached_rollout(model, x, t, cond, layout="relative", commit_t=None):
    """Chunk by chunk: step on the cache, then commit the chunk (at its own times) to fresh slots."""
    F = model.config.chunk_frames
    B, T = x.shape[:2]
    cache = model.new_cache(B, tuple(x.shape[-2:]), capacity=T)
    outs = []
    for s in range(0, T, F):
        part = cond.frames(s, s + F) if cond is not None else None
        history = list(cache.slots)
        outs.append(model.step(x[:, s : s + F], t[:, s : s + F], cache, history, s, part, layout))
        ct = t[:, s : s + F] if commit_t is None else commit_t[:, s : s + F]
        model.commit(x[:, s : s + F], cache, list(range(s, s + F)), history, s, part, t=ct, layout=layout)
    return torch.cat(outs, 1)


# ------------------------------------------------------------------ (1) cached == full recomputation


@pytest.mark.parametrize(
    ("patch", "size", "conditioned", "drops"),
    [
        (2, (4, 6), False, False),
        (2, (4, 6), True, False),
        (2, (3, 5), True, True),  # padded to the patch
        (1, (3, 4), True, False),
    ],
)
def test_cached_chunks_equal_block_causal_forward(patch, size, conditioned, drops):
    model = tiny_model(patch_size=patch)
    x, t, cond = inputs(model, size=size, conditioned=conditioned)
    if drops:
        cond = dataclasses.replace(
            cond, drop_action=torch.tensor([True, False]), drop_camera=torch.tensor([False, True])
        )
    with torch.no_grad():
        full = model(x, t, cond)
        cached = cached_rollout(model, x, t, cond)
    assert full.shape == x.shape
    torch.testing.assert_close(cached, full, atol=1e-10, rtol=0)


@pytest.mark.parametrize("chunk_frames", [1, 2])
@pytest.mark.parametrize("head", [{}, {"cond_channels": 5, "memory_skip": 4}], ids=["plain", "memory_skip"])
def test_teacher_forced_pass_equals_commit_then_step(chunk_frames, head):
    """Clean history (no memory) + noisy targets (with memory) in one pass == cache commit + step,
    with and without the memory skip head."""
    model = tiny_model(chunk_frames=chunk_frames, **head)
    F = chunk_frames
    clean, t_clean, cond = inputs(model, T=6, seed=3)
    noisy, t_noisy, _ = inputs(model, T=6, seed=4)
    t_clean = 0.1 * t_clean
    cond_clean = cond.without("memory")
    targets = list(range(F, 6))
    with torch.no_grad():
        full = model.teacher_forced(
            clean, noisy[:, F:], targets, t_noisy[:, F:], cond_clean, cond.frames(F, 6), t_clean
        )
        cache = model.new_cache(2, tuple(clean.shape[-2:]), capacity=6)
        outs = []
        for s in range(0, 6, F):
            history = list(cache.slots)
            if s >= F:
                outs.append(
                    model.step(
                        noisy[:, s : s + F], t_noisy[:, s : s + F], cache, history, s, cond.frames(s, s + F)
                    )
                )
            model.commit(
                clean[:, s : s + F],
                cache,
                list(range(s, s + F)),
                history,
                s,
                cond_clean.frames(s, s + F),
                t=t_clean[:, s : s + F],
            )
    torch.testing.assert_close(full, torch.cat(outs, 1), atol=1e-10, rtol=0)
    if F == 2:  # a target chunk must be whole
        with pytest.raises(ValueError, match="whole chunks"):
            model.teacher_forced(clean, noisy[:, 3:4], [3], t_noisy[:, 3:4], cond_clean, cond.frames(3, 4))


def test_packed_layout_equals_relative_for_contiguous_history():
    model = tiny_model()
    x, t, cond = inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(
            cached_rollout(model, x, t, cond, "packed"), model(x, t, cond), atol=1e-10, rtol=0
        )


def test_commit_time_matters():
    """Negative control: committing history at t=0 while the full forward saw noisy history differs."""
    model = tiny_model()
    x, t, cond = inputs(model)
    with torch.no_grad():
        wrong = cached_rollout(model, x, t, cond, commit_t=torch.zeros_like(t))
        full = model(x, t, cond)
    F = model.config.chunk_frames
    torch.testing.assert_close(wrong[:, :F], full[:, :F], atol=1e-10, rtol=0)  # first chunk: no history
    assert (wrong[:, F:] - full[:, F:]).abs().max() > 1e-4


# ------------------------------------------------------------------ (2) causality


def test_future_frames_never_change_earlier_outputs():
    model = tiny_model()
    x, t, cond = inputs(model)
    x2, t2 = x.clone(), t.clone()
    a2, p2, m2 = cond.action.clone(), cond.plucker.clone(), cond.memory.clone()
    x2[:, 4] += 1.0
    t2[:, 4] = 0.9
    a2[:, 4] = (a2[:, 4] + 1) % 6
    p2[:, 4] *= -1
    m2[:, 4] += 1
    cond2 = Conditions(action=a2, plucker=p2, memory=m2)
    with torch.no_grad():
        out, out2 = model(x, t, cond), model(x2, t2, cond2)
    torch.testing.assert_close(out2[:, :4], out[:, :4], atol=1e-12, rtol=0)
    # within a chunk attention is bidirectional, and later chunks see the change
    assert (out2[:, 5] - out[:, 5]).abs().max() > 1e-4
    assert (out2[:, 7] - out[:, 7]).abs().max() > 1e-4


# ------------------------------------------------------------------ (3) position fixing: no drift


def _sink_window_case(model, layout, far: int):
    """Step a chunk attending to a sink (frames 0, 1) and a window of 2 frames just before it.

    ``far`` = 0: the chunk is chunk 3 (frames 6, 7) of a real rollout; otherwise the same K/V are laid
    out as if the window and chunk lay ``far`` frames later (sink still at frames 0, 1).
    """
    x, t, cond = inputs(model, B=1, T=8, seed=3)
    F = model.config.chunk_frames
    cache = model.new_cache(1, (4, 6), capacity=8)
    with torch.no_grad():
        for s in range(0, 6, F):
            part = cond.frames(s, s + F)
            history = sink_and_window(cache.slots, sink=2, window=2)
            model.commit(x[:, s : s + F], cache, list(range(s, s + F)), history, s, part, layout=layout)
        attend = sink_and_window(cache.slots, sink=2, window=2)
        assert attend == [0, 1, 4, 5]
        chunk, tc, part = x[:, 6:8], t[:, 6:8], cond.frames(6, 8)
        if far:
            ctx = cache.select(attend)
            moved = model.new_cache(1, (4, 6), capacity=8)
            ids = [0, 1, 4 + far, 5 + far]
            moved.write(ids, ids, ctx.keys, ctx.values)
            cache, attend = moved, ids
        return model.step(chunk, tc, cache, attend, 6 + far, part, layout)


def test_packed_positions_make_chunk_300_equal_chunk_3():
    model = tiny_model()
    near = _sink_window_case(model, "packed", far=0)
    far = _sink_window_case(model, "packed", far=2 * 297)  # chunk 300 of the rollout
    torch.testing.assert_close(far, near, atol=1e-12, rtol=0)


def test_true_offsets_drift_with_a_distant_sink():
    """Negative control: with the sink at its true distance the output changes as the rollout goes on."""
    model = tiny_model()
    near = _sink_window_case(model, "relative", far=0)
    far = _sink_window_case(model, "relative", far=2 * 297)
    assert (far - near).abs().max() > 1e-4


def test_sliding_window_rollout_has_no_drift():
    """A pure sliding window: the same relative history gives the same output at chunk 3 and 300."""
    model = tiny_model()
    x, t, cond = inputs(model, B=1, T=8, seed=4)
    outs = []
    for offset in (0, 2 * 297):
        cache = model.new_cache(1, (4, 6), capacity=8)
        with torch.no_grad():
            for s in range(0, 6, 2):
                history = sliding_window(cache.slots, 4)
                ids = [s + offset, s + 1 + offset]
                model.commit(x[:, s : s + 2], cache, ids, history, s + offset, cond.frames(s, s + 2))
            outs.append(
                model.step(
                    x[:, 6:8], t[:, 6:8], cache, sliding_window(cache.slots, 4), 6 + offset, cond.frames(6, 8)
                )
            )
    # chunk 0 of both rollouts attends to nothing, chunk 1 to 2 frames, then a 4-frame window
    torch.testing.assert_close(outs[1], outs[0], atol=1e-9, rtol=0)


# ------------------------------------------------------------------ conditions and null hooks


def test_condition_hooks():
    model = tiny_model()
    x, t, cond = inputs(model)
    with torch.no_grad():
        base = model(x, t, cond)
        other_cam = model(x, t, dataclasses.replace(cond, plucker=cond.plucker + 1))
        drop = dataclasses.replace(
            cond, drop_action=torch.tensor([True, False]), drop_camera=torch.tensor([False, True])
        )
        dropped = model(x, t, drop)
        no_action = model(x, t, cond.without("action"))
        no_camera = model(x, t, cond.without("camera"))
        null_ids = model(x, t, dataclasses.replace(cond, action=torch.full_like(cond.action, 5)))
    assert (other_cam - base).abs().max() > 1e-4
    torch.testing.assert_close(dropped[0], no_action[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(dropped[1], no_camera[1], atol=1e-12, rtol=0)
    torch.testing.assert_close(null_ids, no_action, atol=1e-12, rtol=0)
    assert (no_action - base).abs().max() > 1e-4


def test_drop_conditions_and_latent_plucker():
    cond = Conditions(action=torch.zeros(64, 2, dtype=torch.long))
    d = drop_conditions(cond, 64, p_action=0.5, p_camera=0.0, generator=torch.Generator().manual_seed(0))
    assert d.drop_action.shape == (64,) and 10 < int(d.drop_action.sum()) < 54
    assert not d.drop_camera.any()
    K = torch.tensor([[80.0, 0, 80], [0, 80, 60], [0, 0, 1]])
    rays = latent_plucker(K, torch.eye(4), (120, 160), (15, 20))
    assert rays.shape == (6, 15, 20)
    with pytest.raises(ValueError, match="integer downsampling"):
        latent_plucker(K, torch.eye(4), (120, 160), (15, 21))
    with pytest.raises(ValueError, match="unknown condition"):
        cond.without("text")


# ------------------------------------------------------------------ (6) sampler


@pytest.mark.parametrize(("steps", "shift"), [(1, 1.0), (3, 1.0), (10, 3.0)])
def test_euler_recovers_a_constant_target_exactly(steps, shift):
    target = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    noise = torch.randn(3, dtype=torch.float64)
    x0 = euler(lambda x, t: (x - target) / t, noise, time_schedule(steps, shift, torch.float64))
    torch.testing.assert_close(x0, target, atol=1e-12, rtol=0)


def test_known_region_stays_on_its_flow_path_and_the_rest_is_generated():
    """RePaint-style replacement: the known entries follow (1 - t)·x0 + t·noise exactly, the others
    integrate the model's velocity (here the exact one towards ``target``), also across the seam."""
    target = torch.tensor([0.3, -1.2, 2.0, 0.5], dtype=torch.float64)
    known_x0 = torch.tensor([9.0, 9.0, -4.0, 9.0], dtype=torch.float64)
    mask = torch.tensor([False, False, True, False])
    noise = torch.randn(4, dtype=torch.float64)
    schedule = time_schedule(5, 2.0, torch.float64)
    seen = []

    def velocity(x, t):
        seen.append((float(t), x.clone()))
        return (x - target) / t

    out = euler(velocity, noise, schedule, Known(known_x0, mask))
    assert out[2] == known_x0[2]
    torch.testing.assert_close(out[~mask], target[~mask], atol=1e-12, rtol=0)
    for t, x in seen[1:]:  # every later step starts with the known entry on its straight path
        torch.testing.assert_close(x[2], (1 - t) * known_x0[2] + t * noise[2], atol=1e-12, rtol=0)
    # with ``until`` the last steps are free: the known entry ends where the model takes it
    free = euler(lambda x, t: (x - target) / t, noise, schedule, Known(known_x0, mask, until=0.5))
    torch.testing.assert_close(free, target, atol=1e-12, rtol=0)


def test_euler_transports_gaussian_noise_to_a_gaussian_target():
    mu, sigma = 0.7, 0.4

    def velocity(x, t):  # E[noise - x0 | x_t] for x0 ~ N(mu, sigma²)
        var = (1 - t) ** 2 * sigma**2 + t**2
        return -mu + (t - (1 - t) * sigma**2) / var * (x - (1 - t) * mu)

    z = torch.randn(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = mu + sigma * z  # the flow ODE maps noise z to mu + sigma z
    errors = [
        (euler(velocity, z, time_schedule(n, 2.0, torch.float64)) - exact).abs().max() for n in (10, 100, 800)
    ]
    assert errors[0] > 5 * errors[1] > 5 * 5 * errors[2]  # first order in the step size
    assert errors[2] < 5e-3


def test_time_schedule():
    s = time_schedule(8, 3.0, torch.float64)
    assert s[0] == 1 and s[-1] == 0 and bool((s[1:] < s[:-1]).all())
    assert bool((s[1:-1] > time_schedule(8, 1.0, torch.float64)[1:-1]).all())


def test_sample_chunk_with_an_exact_velocity_model():
    target = torch.randn(1, 2, 3, 4, 6, dtype=torch.float64)

    class Exact:
        def step(self, x, t, cache, attend, start, cond, layout):
            assert t.shape == (1, 2)
            return (x - target) / t[:, :, None, None, None]

    noise = torch.randn_like(target)
    cfg = SamplerConfig(steps=4, shift=2.0, guidance=(("camera", 3.0), ("action", 2.0)))
    out = sample_chunk(Exact(), noise, cache=None, attend_slots=[], start=0, config=cfg)
    torch.testing.assert_close(out, target, atol=1e-12, rtol=0)


def test_sample_chunk_starts_from_a_guess_at_a_later_time():
    """SDEdit: starting at flow time t from a guess x0, the chunk begins at ``(1 - t)·x0 + t·noise``
    and takes only the schedule's steps below t; with the exact velocity it still lands on the target."""
    target = torch.randn(1, 1, 3, 4, 6, dtype=torch.float64)
    guess = torch.randn_like(target)
    noise = torch.randn_like(target)
    calls = []

    class Exact:
        def step(self, x, t, cache, attend, start, cond, layout):
            calls.append((float(t[0, 0]), x.clone()))
            return (x - target) / t[:, :, None, None, None]

    cfg = SamplerConfig(steps=4, shift=1.0)  # times 1, .75, .5, .25, 0
    out = sample_chunk(Exact(), noise, None, [], 0, config=cfg, init=(guess, 0.6))
    torch.testing.assert_close(out, target, atol=1e-12, rtol=0)
    assert [t for t, _ in calls] == pytest.approx([0.6, 0.5, 0.25])
    torch.testing.assert_close(calls[0][1], 0.4 * guess + 0.6 * noise, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="start time"):
        sample_chunk(Exact(), noise, None, [], 0, config=cfg, init=(guess, 0.0))


def test_guidance_scales():
    model = tiny_model()
    x, t, cond = inputs(model, B=1, T=2)
    cache = model.new_cache(1, (4, 6))

    def predict(c):
        return model.step(x, t, cache, [], 0, c)

    with torch.no_grad():
        names = ("camera", "action", "memory")
        full = predict(cond)
        ones = guided_velocity(predict, cond, [(n, 1.0) for n in names])
        zeros = guided_velocity(predict, cond, [(n, 0.0) for n in names])
        null = predict(cond.without(*names))
        v_cam = predict(cond.without("action", "memory"))
        mixed = guided_velocity(predict, cond.without("memory"), [("camera", 2.0), ("action", 3.0)])
    torch.testing.assert_close(ones, full, atol=1e-12, rtol=0)
    torch.testing.assert_close(zeros, null, atol=1e-12, rtol=0)
    want = null + 2.0 * (v_cam - null) + 3.0 * (predict(cond.without("memory")) - v_cam)
    torch.testing.assert_close(mixed, want, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="guidance"):
        SamplerConfig(guidance=(("text", 2.0),))


# ------------------------------------------------------------------ (7) shapes, size, errors


def test_default_config_size_and_shapes():
    torch.manual_seed(0)
    model = CausalDiT()
    n = sum(p.numel() for p in model.parameters())
    assert 10e6 <= n <= 30e6, n
    cfg = model.config
    x = torch.randn(1, cfg.chunk_frames, cfg.latent_channels, 15, 20)
    with torch.no_grad():
        assert model(x, torch.rand(1, cfg.chunk_frames)).shape == x.shape
        cache = model.new_cache(1, (15, 20))
        v = model.step(x, torch.rand(1, cfg.chunk_frames), cache, [], 0)
        model.commit(x, cache, ["a", "b"], [], 0)
        v2 = model.step(x, torch.rand(1, cfg.chunk_frames), cache, ["a", "b"], 2)
    assert v.shape == v2.shape == x.shape and cache.slots == ("a", "b")


def _bad_calls():
    m = tiny_model()
    x, t, cond = inputs(m, B=2, T=4)
    cache = m.new_cache(2, (4, 6))
    chunk, tc = x[:, :2], t[:, :2]
    return m, [
        ("latents must be", lambda: m(x[0], t)),
        ("channels", lambda: m(x[:, :, :2], t)),
        ("flow time", lambda: m(x, t[:, :3])),
        ("multiple of chunk_frames", lambda: m(x[:, :3], t[:, :3])),
        ("chunk_frames=2", lambda: m.step(x[:, :3], t[:, :3], cache, [], 0)),
        ("action ids", lambda: m(x, t, dataclasses.replace(cond, action=cond.action + 6))),
        ("action must", lambda: m(x, t, dataclasses.replace(cond, action=cond.action.float()))),
        ("plucker must", lambda: m(x, t, dataclasses.replace(cond, plucker=cond.plucker[..., :5]))),
        ("memory must", lambda: m(x, t, dataclasses.replace(cond, memory=cond.memory[:, :, :1]))),
        ("drop_camera", lambda: m(x, t, dataclasses.replace(cond, drop_camera=torch.tensor([1, 0])))),
        ("max_history", lambda: m.step(chunk, tc, cache, list(range(7)), 14)),
        ("not in the cache", lambda: m.step(chunk, tc, cache, [0], 2)),
        ("tokens per frame", lambda: m.step(chunk, tc, m.new_cache(2, (8, 6)), [], 0)),
        ("one slot id per frame", lambda: m.commit(chunk, cache, [0], [], 0)),
        ("position layout", lambda: m.step(chunk, tc, cache, [], 0, layout="absolute")),
        ("positions must", lambda: m(x, t, positions=torch.arange(3.0))),
    ]


def test_bad_inputs_raise_value_errors_naming_the_problem():
    _, calls = _bad_calls()
    for match, call in calls:
        with pytest.raises(ValueError, match=match):
            call()


def test_bad_configs():
    with pytest.raises(ValueError, match="divisible by heads"):
        DiTConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="head_dim"):
        DiTConfig(width=24, heads=6)
    with pytest.raises(ValueError, match="chunk_frames"):
        DiTConfig(chunk_frames=0)
