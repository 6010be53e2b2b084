"""``close_cracks`` (the 3×3 closing of a splatted render's coverage) against OpenCV's morphology."""

import cv2
import numpy as np
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from loci.geometry import close_cracks


def opencv_close(mask: np.ndarray) -> np.ndarray:
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0


masks = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(lambda s: arrays(bool, s))


@settings(max_examples=80, deadline=None)
@given(masks)
@example(np.zeros((5, 6), bool))  # nothing covered
@example(np.ones((5, 6), bool))  # all covered
@example(np.array([[1, 0, 1], [1, 0, 1], [1, 0, 1]], bool))  # a one-pixel crack: closed
@example(np.array([[1, 0, 0, 1]] * 4, bool))  # a two-pixel gap: kept open
@example(np.eye(7, dtype=bool))  # a diagonal line at the border
@example(np.ones((1, 1), bool))
def test_close_cracks_equals_opencv_closing(mask):
    np.testing.assert_array_equal(close_cracks(torch.from_numpy(mask)).numpy(), opencv_close(mask))


def test_a_one_pixel_crack_closes_and_a_hole_stays():
    mask = np.ones((9, 9), bool)
    mask[:, 4] = False  # a crack between two splats
    mask[1:4, 1:4] = False  # a disocclusion 3 pixels wide
    closed = close_cracks(torch.from_numpy(mask)).numpy()
    assert closed[5:, 4].all() and not closed[2, 2]
