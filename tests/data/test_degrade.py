"""NeoVerse degradations: box filtering against OpenCV, flying pixels only at depth edges, perturbed
poses within their bounds (closed form), block depth against numpy's median."""

import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loci.data.degrade import (
    DegradeConfig,
    box_filter_depth,
    degrade_depth,
    depth_edges,
    flying_pixels,
    perturb_poses,
)
from loci.geometry.se3 import rotation_angle
from loci.memory.latent import block_depth


def test_box_filter_matches_opencv_inside_the_image():
    rng = np.random.default_rng(0)
    d = rng.uniform(1, 9, (20, 30)).astype(np.float32)
    ours = box_filter_depth(torch.from_numpy(d)[None], 5)[0].numpy()
    ref = cv2.blur(d, (5, 5))
    np.testing.assert_allclose(ours[2:-2, 2:-2], ref[2:-2, 2:-2], rtol=1e-5)


def test_box_filter_ignores_unknown_pixels_and_keeps_them_unknown():
    d = torch.full((1, 6, 6), 2.0)
    d[0, 2, 2] = 0.0
    out = box_filter_depth(d, 3)
    assert float(out[0, 2, 2]) == 0.0
    torch.testing.assert_close(out[0, 1, 1], torch.tensor(2.0))  # the hole does not pull the mean down


def test_flying_pixels_change_only_the_pixels_at_a_depth_step():
    d = torch.full((1, 8, 10), 2.0)
    d[:, :, 5:] = 6.0  # a vertical step between columns 4 and 5
    edges = depth_edges(d, 3, 0.1)
    assert edges[0, :, 4:6].all() and not edges[0, :, :4].any() and not edges[0, :, 6:].any()
    out = flying_pixels(d, 3, 0.1)
    torch.testing.assert_close(out[0, 3, 4], torch.tensor((2 * 2 + 6) / 3))  # between the surfaces
    torch.testing.assert_close(out[0, :, :4], d[0, :, :4])
    torch.testing.assert_close(out[0, :, 6:], d[0, :, 6:])


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 20.0), st.floats(0.0, 2.0), st.integers(0, 10_000))
def test_perturbed_poses_stay_within_their_bounds(rot_deg, trans_m, seed):
    c2w = torch.eye(4).expand(16, 4, 4).clone()
    c2w[:, :3, 3] = torch.randn(16, 3, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed)
    out = perturb_poses(c2w, rot_deg, trans_m, g)
    delta = torch.linalg.inv(c2w.double()) @ out.double()
    assert bool((rotation_angle(delta[:, :3, :3]) <= math.radians(rot_deg) + 1e-5).all())
    assert bool((delta[:, :3, 3].norm(dim=-1) <= trans_m + 1e-5).all())


def test_degrade_depth_applies_per_sample_and_config_checks():
    d = torch.rand(64, 12, 12) + 1
    d[:, :, 6:] += 5
    g = torch.Generator().manual_seed(0)
    out = degrade_depth(d, DegradeConfig(p_flying_pixels=0.5, p_broad=0.0), g)
    changed = (out != d).flatten(1).any(1)
    assert 10 < int(changed.sum()) < 54  # about half of the maps
    assert torch.equal(degrade_depth(d, DegradeConfig(p_flying_pixels=0, p_broad=0)), d)
    with pytest.raises(ValueError, match="odd"):
        DegradeConfig(edge_kernel=4)
    with pytest.raises(ValueError, match="probability"):
        DegradeConfig(p_perturb=1.5)


def test_block_depth_is_the_median_of_known_pixels():
    rng = np.random.default_rng(1)
    d = rng.uniform(1, 5, (2, 8, 12)).astype(np.float32)
    d[0, :4, :4] = 0  # one block entirely unknown
    d[1, 0, 0] = 0
    ours = block_depth(torch.from_numpy(d), 4).numpy()
    for b in range(2):
        for i in range(2):
            for j in range(3):
                block = d[b, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
                known = block[block > 0]
                expected = (
                    0.0 if known.size == 0 else np.sort(known)[(known.size - 1) // 2]
                )  # torch's lower median
                assert ours[b, i, j] == pytest.approx(expected)
    with pytest.raises(ValueError, match="blocks"):
        block_depth(torch.ones(1, 6, 8), 4)
