"""The disocclusion mix's ramp against a brute-force Euclidean distance to the covered pixels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from loci.world.backends.learned import DitConfig, hole_weights
from tests.world.oracles import brute_distance


@settings(max_examples=40, deadline=None)
@given(
    covered=arrays(bool, st.tuples(st.integers(2, 14), st.integers(2, 14))),
    blend=st.floats(0, 1),
    ramp=st.floats(0.5, 20),
)
def test_ramp_follows_the_euclidean_distance_to_the_covered_view(covered, blend, ramp):
    w = hole_weights(covered, blend, ramp)
    assert w.shape == covered.shape and w.dtype == np.float32
    if not covered.any():  # nothing remembered in view: the plain mix
        np.testing.assert_allclose(w, blend, rtol=1e-6, atol=1e-30)
        return
    expected = blend * np.minimum(brute_distance(covered) / ramp, 1)
    np.testing.assert_allclose(w, expected, atol=1e-3)
    assert (w[covered] == 0).all()


def test_without_a_ramp_the_mix_is_uniform_and_bad_ramps_are_refused():
    covered = np.zeros((4, 5), bool)
    covered[0] = True
    np.testing.assert_array_equal(hole_weights(covered, 0.75, 0), 0.75)
    for bad in (-0.5, -3, float("nan")):
        with pytest.raises(ValueError, match="hole_ramp must be None or >= 0"):
            DitConfig(hole_ramp=bad)
