"""Rectified-flow pieces against closed forms: endpoints, exact straight-path integration, time laws."""

import itertools

import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.training.flow import (
    FlowConfig,
    add_noise,
    euler_times,
    flow_loss,
    logit_normal_pdf,
    sample_times,
    shift_time,
    velocity_target,
)


def test_noising_endpoints_and_exact_euler_on_straight_paths():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 3, 4, 5, 6, generator=g)
    eps = torch.randn(2, 3, 4, 5, 6, generator=g)
    torch.testing.assert_close(add_noise(x0, eps, torch.zeros(2, 3)), x0)
    torch.testing.assert_close(add_noise(x0, eps, torch.ones(2, 3)), eps)
    # with the true velocity, any Euler schedule lands exactly on x0 (paths are straight lines)
    for steps, shift in ((1, 1.0), (4, 3.0)):
        x = eps.clone()
        ts = euler_times(steps, shift)
        for a, b in itertools.pairwise(ts):
            x = x + (b - a) * velocity_target(x0, eps)
        torch.testing.assert_close(x, x0, atol=1e-5, rtol=0)
    assert float(flow_loss(velocity_target(x0, eps), x0, eps)) == 0.0


def test_frame_weights_mask_history():
    x0, eps = torch.zeros(1, 2, 1, 1, 1), torch.ones(1, 2, 1, 1, 1)
    pred = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1, 1)  # frame 0 wrong (target 1), frame 1 right
    assert float(flow_loss(pred, x0, eps)) == 0.5
    assert float(flow_loss(pred, x0, eps, torch.tensor([[0.0, 1.0]]))) == 0.0


@given(st.floats(0.2, 5.0))
def test_shift_is_a_monotone_map_of_the_unit_interval(s):
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    u = shift_time(t, s)
    assert float(u[0]) == 0.0 and abs(float(u[-1]) - 1.0) < 1e-12
    assert bool((u[1:] >= u[:-1]).all())


def test_logit_normal_times_follow_their_density():
    cfg = FlowConfig(logit_mean=0.3, logit_std=0.8)
    t = sample_times(20000, 1, cfg, torch.Generator().manual_seed(1)).flatten()
    hist = torch.histc(t, bins=10, min=0, max=1) / len(t) * 10
    centres = (torch.arange(10) + 0.5) / 10
    torch.testing.assert_close(hist, logit_normal_pdf(centres, 0.3, 0.8), atol=0.12, rtol=0.1)


def test_per_frame_times_and_history():
    cfg = FlowConfig(history_frames=2, history_noise=0.1)
    t = sample_times(64, 6, cfg, torch.Generator().manual_seed(2))
    assert t.shape == (64, 6) and bool((t[:, :2] <= 0.1).all())
    assert float(t[:, 2:].std(dim=1).mean()) > 0.05  # frames differ (diffusion forcing)
    same = sample_times(8, 4, FlowConfig(per_frame=False), torch.Generator().manual_seed(3))
    assert bool((same == same[:, :1]).all())
