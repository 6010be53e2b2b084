"""The DiT's memory skip head: a shut gate where the memory holds nothing, an open gate lands an Euler
step exactly on the memory's latents (closed form), cached == full computation with the head (the
teacher-forced pass with the head: tests/models/test_dit.py), the
shipped world model loads unchanged, and init_from grows a checkpoint by the head only."""

import dataclasses

import pytest
import torch

from loci.models import SHIPPED_WORLD
from loci.models.dit import CausalDiT, DiTConfig
from loci.models.loading import load_world_model
from loci.models.memory_skip import MemorySkip
from loci.training.world import WorldTrainConfig, grown_state
from tests.models.test_dit import cached_rollout, inputs, tiny_model

SKIP = {"cond_channels": 5, "memory_skip": 4}  # TINY's 3 latent channels + depth + mask


def _memory(B, T, C, h, w, mask_value, seed=0):
    g = torch.Generator().manual_seed(seed)
    mem = torch.randn(B, T, C + 2, h, w, generator=g, dtype=torch.float64)
    mem[:, :, -1] = mask_value
    return mem


@pytest.mark.parametrize("mask_value", [-1.0, 0.0])
def test_holes_and_unknown_masks_shut_the_gate(mask_value):
    """Where the mask is a hole (-1) or dropped (0) the gate is 0; at init the residual is 0 too."""
    head = MemorySkip(3, 8).double()
    v, x = torch.randn(2, 2, 3, 4, 5, dtype=torch.float64), torch.randn(2, 2, 3, 4, 5, dtype=torch.float64)
    t = torch.rand(2, 2, dtype=torch.float64)
    mem = _memory(2, 2, 3, 4, 5, mask_value)
    gate, residual = head.gate_and_residual(v, x, t, mem)
    assert (gate == 0).all() and (residual == 0).all()
    torch.testing.assert_close(head(v, x, t, mem), v, atol=0, rtol=0)
    torch.testing.assert_close(head(v, x, t, None), v, atol=0, rtol=0)  # no memory at all


@pytest.mark.parametrize("t_value", [0.02, 0.3, 1.0])
def test_an_open_gate_steps_onto_the_memory(t_value):
    """Gate 1 on valid pixels: one Euler step from t to 0, x_t - t·v, is the memory's latent exactly."""
    head = MemorySkip(3, 8).double()
    with torch.no_grad():
        head.net[-1].bias[3] = 1e4  # sigmoid = 1
    x = torch.randn(1, 2, 3, 4, 5, dtype=torch.float64)
    mem = _memory(1, 2, 3, 4, 5, 1.0)
    mem[:, :, -1, :2] = -1.0  # the top rows are holes
    t = torch.full((1, 2), t_value, dtype=torch.float64)
    v_dit = torch.randn_like(x)
    v = head(v_dit, x, t, mem)
    x0 = x - t_value * v
    torch.testing.assert_close(x0[..., 2:, :], mem[:, :, :3, 2:, :], atol=1e-12, rtol=0)
    torch.testing.assert_close(v[..., :2, :], v_dit[..., :2, :], atol=0, rtol=0)  # holes: the DiT's


def test_cached_chunks_equal_full_forward_with_the_head():
    model = tiny_model(**SKIP)
    x, t, cond = inputs(model)
    with torch.no_grad():
        full = model(x, t, cond)
        cached = cached_rollout(model, x, t, cond)
        plain = CausalDiT(dataclasses.replace(model.config, memory_skip=0)).double()
        plain.load_state_dict(
            {k: v for k, v in model.state_dict().items() if not k.startswith("memory_skip.")}
        )
        without = plain(x, t, cond)
    torch.testing.assert_close(cached, full, atol=1e-10, rtol=0)
    assert (full - without).abs().max() > 1e-3  # the head does something


def test_the_shipped_world_model_has_no_head_and_loads():
    model = load_world_model(SHIPPED_WORLD)
    assert model.config.memory_skip == 0 and model.memory_skip is None


def _train_cfg(model_cfg: DiTConfig) -> WorldTrainConfig:
    return WorldTrainConfig(data_dir="unused", tokenizer="unused", checkpoint_dir="unused", model=model_cfg)


def test_init_from_grows_by_the_head_only():
    from loci.io import config_to_dict

    base = tiny_model(**{**SKIP, "memory_skip": 0})
    grown_cfg = dataclasses.replace(base.config, memory_skip=4)
    grown = CausalDiT(grown_cfg).double()
    state = grown_state(grown, config_to_dict(base.config), base.state_dict(), _train_cfg(grown_cfg))
    grown.load_state_dict(state)
    for k, v in base.state_dict().items():
        torch.testing.assert_close(grown.state_dict()[k], v)
    assert state["memory_skip.net.4.bias"][3] == -2.0  # the fresh head kept its init
    wider = dataclasses.replace(grown_cfg, width=64)
    with pytest.raises(ValueError, match="fields: memory_skip, width"):
        grown_state(CausalDiT(wider), config_to_dict(base.config), base.state_dict(), _train_cfg(wider))


def test_bad_configs_and_shapes():
    with pytest.raises(ValueError, match="memory_skip needs the memory condition"):
        DiTConfig(latent_channels=3, cond_channels=2, memory_skip=4)
    with pytest.raises(ValueError, match="memory_skip must be >= 0"):
        DiTConfig(memory_skip=-1)
    head = MemorySkip(3, 4)
    v = torch.zeros(1, 1, 3, 2, 2)
    with pytest.raises(ValueError, match="memory must be"):
        head(v, v, torch.zeros(1, 1), torch.zeros(1, 1, 4, 2, 2))
