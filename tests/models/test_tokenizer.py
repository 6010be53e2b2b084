"""Tokenizer: shapes, the exact depth normalisation round trip, unknown depth, validation, overfitting."""

import json
import time
from pathlib import Path

import pytest
import torch

from loci.io.configs import config_from_dict
from loci.models import Tokenizer, TokenizerConfig, denormalize_depth, normalize_depth

TINY = {
    4: TokenizerConfig(latent_channels=8, downsample=4, widths=(8, 16, 16), encoder_blocks=(0, 1, 1),
                       decoder_blocks=(0, 1, 1)),
    8: TokenizerConfig(latent_channels=8, downsample=8, widths=(8, 8, 16, 16), encoder_blocks=(0, 0, 1, 1),
                       decoder_blocks=(0, 0, 1, 1)),
}  # fmt: skip


def frames(b=2, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    depth = 0.2 + 20 * torch.rand(b, h, w, generator=g)
    depth[:, :3] = 0  # unknown rows (sky)
    return rgb, depth


@pytest.mark.parametrize("f", [4, 8])
def test_shapes_and_ranges(f):
    model = Tokenizer(TINY[f]).eval()
    rgb, depth = frames()
    with torch.inference_mode():
        z, scale = model.encode(rgb, depth)
        assert z.shape == (2, 8, 32 // f, 48 // f) and z.dtype == torch.float32
        assert scale.shape == (2,)
        rgb_hat, depth_hat = model.decode(z, scale)
    assert rgb_hat.shape == rgb.shape and depth_hat.shape == depth.shape
    assert rgb_hat.abs().max() <= 1 and (depth_hat >= 0).all() and torch.isfinite(depth_hat).all()


def test_depth_normalisation_round_trip_is_exact():
    _, depth = frames(b=3)
    e_norm, scale = normalize_depth(depth, lam=0.9)
    # each frame's nearest surface maps to λ, unknown stays 0, everything else in (0, λ]
    torch.testing.assert_close(e_norm.flatten(1).amax(1), torch.full((3,), 0.9))
    assert (e_norm[depth == 0] == 0).all() and (e_norm[depth > 0] > 0).all()
    back = denormalize_depth(e_norm, scale, lam=0.9)
    torch.testing.assert_close(back, depth, rtol=1e-6, atol=0)
    # an explicit (clip) scale is used as given, returned unchanged, and inverted exactly too
    e2, s2 = normalize_depth(depth, scale=0.5, lam=0.7)
    assert torch.equal(s2, torch.full((3,), 0.5)) and e2.max() > 0.7
    torch.testing.assert_close(denormalize_depth(e2, s2, lam=0.7), depth, rtol=1e-6, atol=0)


def test_unknown_depth():
    model = Tokenizer(TINY[4]).eval()
    rgb, depth = frames()
    depth[1] = 0  # a frame with no known depth at all: scale 1, everything unknown
    x, scale = model.to_input(rgb, depth)
    assert scale[1] == 1 and (x[1, 3] == 0).all() and (x[0, 3][depth[0] == 0] == 0).all()
    # decode: a normalised value at or below the threshold is unknown (0), never a huge depth
    e = torch.tensor([[[0.0, 0.005, 0.5]]])
    d = denormalize_depth(e, 1.0, lam=0.9, unknown_threshold=0.01)
    assert d[0, 0, 0] == 0 and d[0, 0, 1] == 0 and d[0, 0, 2] > 0


@pytest.mark.parametrize(
    ("rgb_shape", "depth_shape", "message"),
    [
        ((2, 4, 32, 48), (2, 32, 48), "rgb must have shape"),
        ((2, 3, 32, 48), (2, 32, 40), "depth must have shape"),
        ((2, 3, 30, 48), (2, 30, 48), "multiples of the downsample"),
    ],
)
def test_bad_shapes_raise(rgb_shape, depth_shape, message):
    with pytest.raises(ValueError, match=message):
        Tokenizer(TINY[4]).encode(torch.zeros(rgb_shape), torch.ones(depth_shape))


def test_bad_values_raise():
    model = Tokenizer(TINY[4])
    rgb, depth = frames()
    bad = depth.clone()
    bad[0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.encode(rgb, bad)
    bad[0, 5, 5] = -1.0
    with pytest.raises(ValueError, match="negative"):
        model.encode(rgb, bad)
    with pytest.raises(ValueError, match="scale"):
        model.encode(rgb, depth, scale=torch.tensor([1.0, -1.0]))
    z, scale = model.encode(rgb, depth)
    with pytest.raises(ValueError, match="latents must have shape"):
        model.decode(z[:, :4], scale)
    with pytest.raises(ValueError, match="scale must be"):
        model.decode(z, torch.ones(3))


def test_config_validation():
    with pytest.raises(ValueError, match="widths needs 4 entries"):
        TokenizerConfig(downsample=8)
    with pytest.raises(ValueError, match="power of two"):
        TokenizerConfig(downsample=6)


def test_shipped_config_is_small():
    data = json.loads((Path(__file__).parents[2] / "configs" / "tokenizer_tiny.json").read_text())
    model = Tokenizer(config_from_dict(TokenizerConfig, data["model"]))
    assert model.num_parameters() <= 5_000_000


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = Tokenizer(TINY[4])
    # smooth, high-contrast frames (a tiny model cannot memorise white noise in a few steps)
    g = torch.Generator().manual_seed(1)
    up = lambda t: torch.nn.functional.interpolate(t, size=(32, 32), mode="bilinear")  # noqa: E731
    rgb = up(torch.rand(4, 3, 4, 4, generator=g) * 2 - 1)
    depth = up(0.5 + 5 * torch.rand(4, 1, 4, 4, generator=g))[:, 0]
    x, _ = model.to_input(rgb, depth)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    start, losses, threads = time.perf_counter(), [], torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread beats two on a busy 2-core machine
    try:
        for _ in range(200):  # ≈ 20 ms a step; the first ~50 only learn the mean
            loss = (model.decode_x(model.encode_x(x)) - x).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert time.perf_counter() - start < 20
    assert min(losses[-5:]) < losses[0] / 4, losses[::20]
