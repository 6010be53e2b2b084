"""Images for people: side-by-side panels and labels keep the pictures they are given."""

import numpy as np
import pytest

from loci.io import hstack_panels, label_image


def test_label_writes_only_its_corner_and_leaves_the_input_alone():
    img = np.full((60, 80, 3), 128, np.uint8)
    out = label_image(img, "truth 3")
    assert (img == 128).all() and out.shape == img.shape and out.dtype == np.uint8
    changed = (out != img).any(-1)
    ys, xs = np.nonzero(changed)
    assert changed.any() and ys.max() < 16 and xs.min() < 10  # the text sits at the top left
    assert (out[20:] == img[20:]).all()


def test_panels_sit_side_by_side_with_a_gap_and_refuse_mismatched_heights():
    a, b = np.zeros((4, 3, 3), np.uint8), np.full((4, 5, 3), 255, np.uint8)
    out = hstack_panels(a, b, gap=2)
    assert out.shape == (4, 10, 3)
    assert (out[:, :3] == a).all() and (out[:, 5:] == b).all() and (out[:, 3:5] == 16).all()
    with pytest.raises(ValueError, match="same H"):
        hstack_panels(a, np.zeros((5, 3, 3), np.uint8))
