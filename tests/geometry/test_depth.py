"""Depth encodings: round trips, unknown-depth handling, DeepVerse normalisation."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.geometry import (
    denormalize_by_max,
    depth_to_disparity,
    depth_to_sqrt_disparity,
    disparity_to_depth,
    frame_max,
    normalize_by_max,
    sqrt_disparity_to_depth,
)

depths = st.lists(st.floats(0.01, 1000.0), min_size=4, max_size=4).map(
    lambda v: torch.tensor(v, dtype=torch.float64).view(2, 2)
)


@given(depths)
def test_round_trips(d):
    torch.testing.assert_close(disparity_to_depth(depth_to_disparity(d)), d)
    torch.testing.assert_close(sqrt_disparity_to_depth(depth_to_sqrt_disparity(d)), d)
    torch.testing.assert_close(depth_to_sqrt_disparity(d), d.rsqrt())


def test_unknown_depth_stays_zero_and_bad_values_raise():
    d = torch.tensor([[0.0, 4.0], [0.25, 0.0]])
    e = depth_to_sqrt_disparity(d)
    torch.testing.assert_close(e, torch.tensor([[0.0, 0.5], [2.0, 0.0]]))
    torch.testing.assert_close(sqrt_disparity_to_depth(e), d)
    with pytest.raises(ValueError, match="NaN"):
        depth_to_disparity(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="negative"):
        depth_to_disparity(torch.tensor([[-1.0, 1.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        depth_to_disparity(torch.tensor([[float("inf"), 1.0]]))


@given(depths, st.floats(0.1, 1.0))
def test_normalisation_puts_reference_frame_in_0_lambda(d, lam):
    e = depth_to_sqrt_disparity(d)
    e_max = frame_max(e)
    n = normalize_by_max(e, e_max, lam)
    assert float(n.max()) == pytest.approx(lam)
    assert float(n.min()) > 0
    torch.testing.assert_close(denormalize_by_max(n, e_max, lam), e)
    # A later, closer frame may exceed λ without clipping.
    closer = normalize_by_max(depth_to_sqrt_disparity(d / 4), e_max, lam)
    assert float(closer.max()) == pytest.approx(2 * lam)


def test_normalisation_rejects_bad_parameters():
    e = torch.ones(1, 2, 2)
    with pytest.raises(ValueError, match="lam"):
        normalize_by_max(e, 1.0, 1.5)
    with pytest.raises(ValueError, match="positive"):
        normalize_by_max(e, 0.0)
    with pytest.raises(ValueError, match="no known"):
        frame_max(torch.zeros(1, 2, 2))
