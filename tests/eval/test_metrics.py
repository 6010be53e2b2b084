"""Frame metrics against skimage (the independent oracle) and hand-computed cases."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from loci.eval.metrics import (
    MemorySymmetryConfig,
    depth_error,
    laplacian_energy,
    memory_symmetry,
    psnr,
    psnr_batch,
    sharpness_ratio,
    ssim,
    ssim_batch,
    ssim_map,
    temporal_flickering,
)
from loci.eval.poses import chain
from loci.eval.revisit import RevisitConfig, find_revisits, revisit_consistency


def _pair(seed: int, shape=(40, 52, 3), noise=30):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_ssim_match_skimage(seed):
    a, b = _pair(seed)
    assert psnr(b, a) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-9)
    ref = structural_similarity(
        a, b, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(b, a) == pytest.approx(ref, abs=1e-9)
    # smooth images too (SSIM's structure term matters there)
    sm = np.clip(np.cumsum(np.ones((30, 30, 3)), 0) * 7, 0, 255).astype(np.uint8)
    ref2 = structural_similarity(
        sm,
        a[:30, :30],
        channel_axis=-1,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(sm, a[:30, :30]) == pytest.approx(ref2, abs=1e-9)


def test_masked_and_batches():
    a, b = _pair(3)
    m = np.zeros(a.shape[:2], bool)
    m[5:20, 10:40] = True
    mse = ((a[m].astype(float) - b[m]) ** 2).mean()
    assert psnr(a, b, m) == pytest.approx(10 * math.log10(255**2 / mse))
    full = np.ones_like(m)
    assert ssim(a, b, full) == pytest.approx(ssim(a, b))
    s = ssim_map(a, b)
    assert ssim(a, b, m) == pytest.approx(s[m].mean())  # mask inside the 5 px border
    assert math.isnan(psnr(a, b, np.zeros_like(m)))
    batch = psnr_batch(np.stack([a, a]), np.stack([b, a]), cap_db=100.0)
    assert batch[0] == pytest.approx(psnr(a, b)) and batch[1] == 100.0
    assert ssim_batch(np.stack([a]), np.stack([a]))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        psnr(a.astype(np.float32), b)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_psnr_symmetric_and_identical(seed):
    a, b = _pair(seed, (12, 14, 3), noise=int(seed % 50) + 1)
    assert psnr(a, b) == pytest.approx(psnr(b, a))
    assert psnr(a, a) == math.inf and psnr(a, a, cap_db=100.0) == 100.0
    assert ssim(a, a) == pytest.approx(1.0)


def test_depth_error_hand_computed():
    true = np.array([[1.0, 2.0], [4.0, 0.0]])
    pred = np.array([[1.0, 3.0], [2.0, 5.0]])  # last pixel unknown in truth
    e = depth_error(pred, true)
    assert e.n_pixels == 3
    assert e.abs_rel == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert e.delta1 == pytest.approx(1 / 3)  # ratios 1, 1.5, 2
    e2 = depth_error(true * 3.0, true, align="median")  # scale-ambiguous prediction
    assert e2.scale == pytest.approx(1 / 3) and e2.abs_rel == pytest.approx(0) and e2.delta1 == 1.0
    assert math.isnan(depth_error(np.zeros((2, 2)), true).abs_rel)
    assert e.coverage == 1.0 and depth_error(np.zeros((2, 2)), true).coverage == 0.0


def test_depth_coverage_counts_unanswered_pixels():
    true = np.array([[1.0, 2.0], [4.0, 0.0]])
    pred = np.array([[1.0, 0.0], [np.nan, 5.0]])  # one answered of the three known pixels
    e = depth_error(pred, true)
    assert e.coverage == pytest.approx(1 / 3) and e.n_pixels == 1 and e.abs_rel == 0.0
    assert depth_error(pred, true, mask=np.array([[True, False], [False, True]])).coverage == 1.0
    assert math.isnan(depth_error(pred, np.zeros((2, 2))).coverage)  # nothing to cover


def test_temporal_flickering():
    v = np.zeros((3, 4, 4, 3), np.uint8)
    v[1] = 51  # |diff| = 51 then 51
    assert temporal_flickering(v) == pytest.approx((255 - 51) / 255)
    assert temporal_flickering(np.zeros((2, 4, 4, 3), np.uint8)) == 1.0


def _laplacian_var_numpy(grey: np.ndarray) -> float:
    """Oracle: the 4-neighbour Laplacian with numpy's ``reflect`` padding (OpenCV's BORDER_REFLECT_101)."""
    g = np.pad(grey.astype(np.float64), 1, mode="reflect")
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def test_laplacian_energy_closed_form_and_numpy_oracle():
    checker = (np.indices((6, 8)).sum(0) % 2 * 255).astype(np.uint8)  # every Laplacian is +-4*255
    video = np.repeat(checker[None, ..., None], 3, -1)
    assert laplacian_energy(video)[0] == pytest.approx((4 * 255) ** 2)
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (3, 9, 11), dtype=np.uint8)  # R = G = B: the grey conversion is exact
    got = laplacian_energy(np.repeat(grey[..., None], 3, -1))
    np.testing.assert_allclose(got, [_laplacian_var_numpy(g) for g in grey], rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_sharpness_ratio_sees_blur_and_noise(seed):
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (2, 12, 16, 3), dtype=np.uint8).reshape(24, 16, 3), (64, 96))
    truth = base.reshape(2, 48, 64, 3)
    blurred = np.stack([cv2.GaussianBlur(f, (7, 7), 2.0) for f in truth])
    noisy = np.clip(truth + rng.normal(0, 25, truth.shape), 0, 255).astype(np.uint8)
    assert sharpness_ratio(truth, truth) == 1.0
    assert sharpness_ratio(blurred, truth) < 0.8 < 1.25 < sharpness_ratio(noisy, truth)


def test_sharpness_ratio_bad_input():
    flat = np.full((2, 4, 4, 3), 7, np.uint8)
    assert math.isnan(sharpness_ratio(flat, flat))  # no texture in the truth: undefined, not 0 or inf
    with pytest.raises(ValueError, match="same shape"):
        sharpness_ratio(flat, flat[:1])
    with pytest.raises(ValueError, match="uint8"):
        laplacian_energy(flat.astype(np.float32))


def test_memory_symmetry_hand_computed():
    n = 5  # pairs (0, 4), (1, 3); the middle frame 2 is not paired with itself
    v = np.zeros((n, 4, 4, 3), np.uint8)
    v[4] = 50  # MSE 2500 on pair 0
    v[3] = 20  # MSE 400 < a on pair 1 -> similarity 1
    r = memory_symmetry(v)
    s0 = math.exp(-1e-4 * (2500 - 1000) ** 1.1)
    w0, w1 = math.exp(0.1 * 2.0), math.exp(0.1 * 1.0)
    assert r.mse == pytest.approx([2500, 400])
    assert r.similarity == pytest.approx([s0, 1.0])
    assert r.score == pytest.approx((s0 * w0 + w1) / (w0 + w1))
    assert memory_symmetry(np.repeat(v[:1], 6, 0)).score == 1.0
    assert memory_symmetry(v, MemorySymmetryConfig(a=3000)).score == 1.0


def _loop_poses(n_out: int = 12) -> np.ndarray:
    """Walk out 1 m along z in steps, turn 180 degrees in 6 steps, walk back."""

    def step(tz=0.0, yaw=0.0):
        c, s = math.cos(yaw), math.sin(yaw)
        m = np.eye(4)
        m[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        m[2, 3] = tz
        return m

    steps = [step(tz=1 / n_out)] * n_out + [step(yaw=math.pi / 6)] * 6 + [step(tz=1 / n_out)] * n_out
    return chain(np.stack(steps))


def test_find_revisits_on_loop():
    p = _loop_poses()
    pairs = find_revisits(p, RevisitConfig(max_translation=0.05, max_rotation_deg=5, min_gap=3))
    assert len(pairs) == 0  # walking back faces the other way: no view revisit
    turned = p.copy()
    turned[19:, :3, :3] = turned[19:, :3, :3] @ np.diag([-1.0, 1.0, -1.0])  # look back the way it came
    pairs = find_revisits(turned, RevisitConfig(max_translation=0.05, max_rotation_deg=5, min_gap=3))
    t = turned[:, :3, 3]
    assert len(pairs) > 5
    for i, j in pairs:
        assert j - i > 3 and np.linalg.norm(t[i] - t[j]) < 0.05
    assert (30, 0) in {(int(j), int(i)) for i, j in pairs}  # back at the start


def test_revisit_consistency():
    a, b = _pair(5, (20, 24, 3))
    true = np.stack([a, b, a])
    gen = np.stack([a, a, a])
    r = revisit_consistency(gen, true, np.array([[0, 2]]))
    assert (
        r.psnr_truth[0] == 100.0 and r.psnr_first[0] == 100.0 and r.ssim_first_truth[0] == pytest.approx(1.0)
    )
    assert r.mean()["psnr_truth"] == 100.0
