"""DMD against closed-form Gaussian denoisers: the loss moves a generator onto the teacher's
distribution, and the critic's flow loss recovers the generator's own distribution."""

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loci.training.dmd import DMDConfig, critic_loss, dmd_gradient, dmd_loss, dmd_step, x0_from_velocity
from loci.training.flow import add_noise

D = 8  # dimensions per sample; latents are (B, 1, D, 1, 1)


def gaussian_velocity(mean: torch.Tensor, std: torch.Tensor):
    """The exact rectified-flow denoiser of N(mean, std²) data as a velocity predictor:
    E[x0 | x_t] = mean + (1-t)·std² / ((1-t)²·std² + t²) · (x_t - (1-t)·mean)."""

    def velocity(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t[:, :, None, None, None]
        var = std**2
        x0 = mean + (1 - tt) * var / ((1 - tt) ** 2 * var + tt**2) * (x_t - (1 - tt) * mean)
        return (x_t - x0) / tt

    return velocity


def test_velocity_to_x0_inverts_the_flow_path():
    x0, eps = torch.randn(3, 2, 4, 2, 2), torch.randn(3, 2, 4, 2, 2)
    t = torch.rand(3, 2) * 0.9 + 0.05
    assert torch.allclose(x0_from_velocity(add_noise(x0, eps, t), t, eps - x0), x0, atol=1e-5)


def test_equal_scores_give_no_gradient():
    x0 = torch.randn(4, 1, D, 1, 1)
    x_t, t = torch.randn_like(x0), torch.full((4, 1), 0.5)
    v = torch.randn_like(x0)
    assert torch.count_nonzero(dmd_gradient(x0, x_t, t, v, v)) == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
@example(0)
def test_loss_gradient_is_the_dmd_direction(seed):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(2, 3, 4, 2, 2, generator=g, requires_grad=True)
    grad = torch.randn(2, 3, 4, 2, 2, generator=g)
    dmd_loss(x0, grad).backward()
    assert torch.allclose(x0.grad, grad / x0.numel(), atol=1e-7)


def test_the_sign_steps_toward_the_teacher():
    """One exact-score step moves a generator's mean from 0 toward the teacher's mean 2."""
    real = gaussian_velocity(torch.tensor(2.0), torch.tensor(1.0))
    fake = gaussian_velocity(torch.tensor(0.0), torch.tensor(1.0))
    x0 = torch.randn(512, 1, D, 1, 1, generator=torch.Generator().manual_seed(0))
    step = dmd_step(x0, real, fake, DMDConfig(), torch.Generator().manual_seed(1))
    assert float(step.grad.mean()) < 0 and step.gap > 0.1  # -grad points up, toward mean 2


def test_exact_scores_move_a_generator_onto_the_teacher():
    mu, s = 1.5, 0.5
    real = gaussian_velocity(torch.tensor(mu), torch.tensor(s))
    a = torch.tensor(1.0, requires_grad=True)  # the generator x = a·z + b, N(b, a²)
    b = torch.tensor(-1.0, requires_grad=True)
    opt = torch.optim.Adam([a, b], lr=0.03)
    g = torch.Generator().manual_seed(0)
    for _ in range(400):
        z = torch.randn(256, 1, D, 1, 1, generator=g)
        x0 = a * z + b
        fake = gaussian_velocity(b.detach(), a.detach().abs())
        opt.zero_grad()
        dmd_step(x0, real, fake, DMDConfig(), g).loss.backward()
        opt.step()
    assert abs(float(b.detach()) - mu) < 0.08
    assert abs(abs(float(a.detach())) - s) < 0.08


def test_a_learned_critic_and_the_generator_meet_the_teacher():
    """DMD2's alternation: the critic (a Gaussian denoiser with learned mean and spread) fits the
    generator's samples by flow matching, five updates per generator update; both end on the teacher."""
    mu, s = -1.0, 0.7
    real = gaussian_velocity(torch.tensor(mu), torch.tensor(s))
    a = torch.tensor(1.2, requires_grad=True)
    b = torch.tensor(1.0, requires_grad=True)
    m = torch.tensor(0.0, requires_grad=True)
    log_sd = torch.tensor(0.0, requires_grad=True)
    gen_opt = torch.optim.Adam([a, b], lr=0.02)
    critic_opt = torch.optim.Adam([m, log_sd], lr=0.05)
    g = torch.Generator().manual_seed(1)
    cfg = DMDConfig()
    for i in range(1500):
        z = torch.randn(256, 1, D, 1, 1, generator=g)
        x0 = a * z + b
        critic_opt.zero_grad()
        critic_loss(gaussian_velocity(m, log_sd.exp()), x0, cfg, g).backward()
        critic_opt.step()
        if i % 5 == 4:
            gen_opt.zero_grad()
            fake = gaussian_velocity(m.detach(), log_sd.detach().exp())
            dmd_step(x0, real, fake, cfg, g).loss.backward()
            gen_opt.step()
    assert abs(float(b.detach()) - mu) < 0.15 and abs(abs(float(a.detach())) - s) < 0.15
    assert (
        abs(float(m.detach()) - float(b.detach())) < 0.15
        and abs(float(log_sd.detach().exp()) - abs(float(a.detach()))) < 0.15
    )


def test_critic_loss_is_minimal_at_the_true_denoiser():
    x0 = 0.3 + 0.8 * torch.randn(4096, 1, D, 1, 1, generator=torch.Generator().manual_seed(2))
    cfg = DMDConfig()

    def loss(mean, std):
        return float(
            critic_loss(
                gaussian_velocity(torch.tensor(mean), torch.tensor(std)),
                x0,
                cfg,
                torch.Generator().manual_seed(3),
            )
        )

    best = loss(0.3, 0.8)
    assert best < loss(0.8, 0.8) and best < loss(0.3, 0.4) and best < loss(-0.2, 1.2)


def test_config_rejects_bad_ranges():
    import pytest

    for kwargs in ({"min_t": 0.0}, {"max_t": 1.0}, {"min_t": 0.5, "max_t": 0.4}, {"shift": 0.0}):
        with pytest.raises(ValueError, match="DMDConfig"):
            DMDConfig(**kwargs)
