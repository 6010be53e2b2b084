"""Brute-force oracles of the world tests."""

import numpy as np


def brute_distance(covered: np.ndarray) -> np.ndarray:
    """``(H, W)`` distance of every pixel to the nearest covered one, over all pairs."""
    ys, xs = np.nonzero(covered)
    gy, gx = np.mgrid[: covered.shape[0], : covered.shape[1]]
    d2 = (gy[..., None] - ys) ** 2 + (gx[..., None] - xs) ** 2
    return np.sqrt(d2.min(-1))
