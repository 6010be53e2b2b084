"""DepthNet: shapes, metric range, padding of odd sizes, per-frame independence, input validation."""

import math

import numpy as np
import pytest
import torch

from loci.models.depth import DepthNet, DepthNetConfig, coordinate_grid

SMALL = DepthNetConfig(widths=(4, 8, 8), encoder_blocks=(0, 1, 1), decoder_blocks=(0, 1, 0))


@pytest.fixture(scope="module")
def net() -> DepthNet:
    torch.manual_seed(0)
    return DepthNet(SMALL).eval()


@pytest.mark.parametrize("size", [(16, 24), (30, 45), (1, 1)])
def test_output_is_positive_metric_depth_of_the_input_size(net, size):
    rgb = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        depth = net(rgb)
    assert depth.shape == (2, *size) and depth.dtype == torch.float32
    assert bool((depth >= SMALL.min_depth_m).all()) and bool((depth <= SMALL.max_depth_m).all())
    np.testing.assert_allclose(
        depth.log(), net.log_depth(rgb).detach().clamp(math.log(0.1), math.log(60.0)), rtol=1e-6, atol=1e-6
    )


def test_frames_are_independent_of_their_batch(net):
    rgb = torch.rand(3, 3, 24, 32) * 2 - 1
    with torch.no_grad():
        together = net(rgb)
        alone = net(rgb[1:2])
    torch.testing.assert_close(together[1:2], alone, rtol=1e-5, atol=1e-5)


def test_log_depth_output_is_centred_on_init_depth_at_zero_head():
    model = DepthNet(SMALL)
    torch.nn.init.zeros_(model.head.weight)
    with torch.no_grad():
        depth = model(torch.zeros(1, 3, 16, 16))
    torch.testing.assert_close(depth, torch.full((1, 16, 16), SMALL.init_depth_m))


def test_predict_matches_forward_and_restores_training_mode():
    torch.manual_seed(1)
    model = DepthNet(SMALL).train()
    img = np.random.default_rng(0).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    depth = model.predict(img)
    assert depth.shape == (20, 28) and depth.dtype == np.float32 and model.training
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        ref = model.eval()(x)[0].numpy()
    np.testing.assert_allclose(depth, ref, rtol=1e-6)


def test_input_errors_name_the_problem(net):
    img = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        net.predict(img.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        net.predict(img[..., 0])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        net.predict(np.zeros((16, 16, 4), np.uint8))
    with pytest.raises(TypeError, match="numpy array"):
        net.predict(img.tolist())
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.zeros(1, 4, 16, 16))
    with pytest.raises(ValueError, match="floating-point"):
        net(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="non-finite"):
        net(torch.full((1, 3, 16, 16), float("nan")))


def test_config_validation():
    with pytest.raises(ValueError, match="encoder_blocks needs 3"):
        DepthNetConfig(widths=(4, 8, 8), encoder_blocks=(0, 1))
    with pytest.raises(ValueError, match="decoder_blocks"):
        DepthNetConfig(widths=(4, 8), encoder_blocks=(0, 1), decoder_blocks=(0, 1))
    with pytest.raises(ValueError, match="min_depth_m"):
        DepthNetConfig(min_depth_m=5.0, init_depth_m=3.0)
    assert DepthNetConfig().multiple == 16


def test_coordinate_grid_has_pixel_centres_in_minus_one_one():
    g = coordinate_grid(1, 2, 4, torch.device("cpu"), torch.float32)
    assert g.shape == (1, 2, 2, 4)
    torch.testing.assert_close(g[0, 0, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(g[0, 1, :, 0], torch.tensor([-0.5, 0.5]))


def test_default_net_is_small():
    assert DepthNet().num_parameters() < 500_000
