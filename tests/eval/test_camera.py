"""Trajectory metrics (hand cases, properties) and the pixel camera estimator on engine frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loci.eval.camera import (
    MotionConfig,
    _judged,
    _rotation_parallax,
    _translation_only,
    essential_matrix,
    estimate_trajectory,
)
from loci.eval.poses import chain, step_motions
from loci.eval.trajectory import TrajectoryAccuracyConfig, camera_errors, trajectory_accuracy

SIGNED = TrajectoryAccuracyConfig(absolute=False)
WALK = "WWWQQQWWEEEWWQW"


def _step(tz=0.0, tx=0.0, yaw=0.0):
    c, s = math.cos(yaw), math.sin(yaw)
    m = np.eye(4)
    m[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    m[:3, 3] = [tx, 0, tz]
    return m


def _reverse_turns(poses: np.ndarray) -> np.ndarray:
    """The same walk with every turn mirrored (left <-> right): a wrong trajectory."""
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    return chain(mirror @ step_motions(poses) @ mirror)


def test_trajectory_accuracy_hand_cases():
    ref = chain(np.stack([_step(tz=1), _step(yaw=0.2), _step(tz=1, yaw=0.2)]))
    assert trajectory_accuracy(ref, ref).score == pytest.approx(1.0)
    sideways = chain(np.stack([_step(tx=1), _step(yaw=0.2), _step(tz=1, yaw=0.2)]))
    ta = trajectory_accuracy(sideways, ref)
    assert ta.per_step == pytest.approx([0.5, 1.0, 1.0])  # orthogonal translation, rotation still on both
    mirrored = _reverse_turns(ref)
    assert trajectory_accuracy(mirrored, ref).score == pytest.approx(1.0)  # the paper's |cos| is sign-blind
    assert trajectory_accuracy(mirrored, ref, config=SIGNED).per_step == pytest.approx([1.0, 0.0, 0.0])
    assert trajectory_accuracy(ref, ref, valid=np.array([True, False, True])).score == pytest.approx(2 / 3)
    assert not trajectory_accuracy(
        chain(np.stack([_step(yaw=0.2)] * 3)), chain(np.stack([_step(tz=1)] * 3))
    ).accurate


def test_camera_errors_hand_case():
    ref = chain(np.stack([_step(tz=1), _step(tz=1)]))  # positions z = 0, 1, 2 -> normalised 0, .5, 1
    est = chain(np.stack([_step(tz=1), _step(yaw=math.pi / 2)]))  # z = 0, 1, 1 -> 0, 1, 1 (scale 1)
    e = camera_errors(est, ref)
    assert e.rot_err == pytest.approx(math.pi / 2)
    assert e.trans_per_frame == pytest.approx([0, 0.5, 0])
    assert e.cam_mc_per_frame[1] == pytest.approx(0.5)


_motion = st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(-0.5, 0.5))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(_motion, min_size=2, max_size=8), st.lists(_motion, min_size=8, max_size=8), st.floats(0.01, 100)
)
def test_trajectory_properties(ref_steps, est_steps, scale):
    ref = chain(np.stack([_step(tz, tx, yaw) for tz, tx, yaw in ref_steps]))
    est = chain(np.stack([_step(tz, tx, yaw) for tz, tx, yaw in est_steps[: len(ref_steps)]]))
    same = camera_errors(ref, ref)
    assert same.rot_err == pytest.approx(0, abs=1e-6) and same.trans_err == pytest.approx(0, abs=1e-9)
    assert trajectory_accuracy(ref, ref).score == pytest.approx(1.0)
    scaled = est.copy()
    scaled[:, :3, 3] *= scale
    a, b = camera_errors(est, ref), camera_errors(scaled, ref)
    assert b.trans_err == pytest.approx(a.trans_err, abs=1e-9) and b.cam_mc == pytest.approx(
        a.cam_mc, abs=1e-9
    )
    assert trajectory_accuracy(scaled, ref).score == pytest.approx(trajectory_accuracy(est, ref).score)


def test_estimator_survives_bad_frames():
    blank = np.zeros((3, 60, 80, 3), np.uint8)
    m = estimate_trajectory(blank, np.array([[40, 0, 40], [0, 40, 30], [0, 0, 1.0]]))
    assert not m.valid.any() and np.allclose(m.poses, np.eye(4))
    noise = np.random.default_rng(0).integers(0, 256, (3, 60, 80, 3), dtype=np.uint8)
    m = estimate_trajectory(noise, np.array([[40, 0, 40], [0, 40, 30], [0, 0, 1.0]]))
    assert m.poses.shape == (3, 4, 4) and m.valid.shape == (2,)


def _rotation(axis, angle: float) -> np.ndarray:
    """Closed-form rotation matrix (Rodrigues) about ``axis (3,)`` by ``angle`` rad."""
    k = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    axis=st.tuples(*[st.floats(-1, 1)] * 3).filter(lambda a: np.linalg.norm(a) > 0.1),
    angle=st.floats(0.0, 0.3),
    seed=st.integers(0, 2**16),
)
@example(axis=(0.0, 1.0, 0.0), angle=0.0, seed=0)  # identical frames: copy-last, a frozen world
@example(axis=(0.0, 1.0, 0.0), angle=0.05, seed=1)  # an exact turn (Q/E)
@example(axis=(1.0, 0.0, 0.0), angle=0.02, seed=2)  # an exact look up (R/F)
def test_essential_matrix_of_an_exact_pure_rotation(axis, angle, seed):
    """Bearings related by an exact rotation make every minimal sample degenerate: Nistér's
    polynomial vanishes, which OpenCV 5's solvePoly refuses with an assertion (OpenCV 4 returned
    spurious roots). The estimate must still come back, keep the points as inliers, and let the
    rotation-only fit recover the closed-form rotation."""
    rng = np.random.default_rng(seed)
    R = _rotation(axis, angle)
    xa = rng.uniform(-0.8, 0.8, (150, 2))
    hb = np.concatenate([xa, np.ones((150, 1))], axis=1) @ R.T
    xb = hb[:, :2] / hb[:, 2:]
    K = np.array([[80.0, 0, 80], [0, 80, 60], [0, 0, 1]])
    E, mask = essential_matrix(xa, xb, threshold=1.0 / 80, confidence=0.999)
    assert E is None or (E.shape[1] == 3 and E.shape[0] % 3 == 0)  # a pure rotation may have none
    assert mask.shape == (150, 1) and mask.sum() >= 140
    pb = (hb / hb[:, 2:]) @ K.T
    R_fit, parallax = _rotation_parallax(xa, xb, pb[:, :2], K)
    assert parallax < 1e-6
    np.testing.assert_allclose(R_fit, R, atol=1e-8)


def test_essential_matrix_of_a_real_translation_is_ransacs():
    """Where no sample is degenerate the estimate is plain RANSAC's: the epipolar constraint of the
    true motion holds on the inliers, and the fit equals ``cv2.findEssentialMat`` with RANSAC."""
    import cv2

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.uniform(-2, 2, (200, 2)), rng.uniform(3, 8, (200, 1))], axis=1)
    R, t = _rotation((0, 1, 0), 0.05), np.array([0.2, 0.0, 0.5])
    Y = X @ R.T + t
    xa, xb = X[:, :2] / X[:, 2:], Y[:, :2] / Y[:, 2:]
    E, mask = essential_matrix(xa, xb, threshold=1e-3, confidence=0.999)
    E_cv, mask_cv = cv2.findEssentialMat(xa, xb, np.eye(3), method=cv2.RANSAC, prob=0.999, threshold=1e-3)
    np.testing.assert_array_equal(E, E_cv)
    np.testing.assert_array_equal(mask, mask_cv)
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    E_true = tx @ R
    E0 = E[:3] * np.sign(np.vdot(E[:3], E_true)) / np.linalg.norm(E[:3])
    np.testing.assert_allclose(E0, E_true / np.linalg.norm(E_true), atol=1e-6)


def test_estimator_on_identical_frames_is_a_valid_standstill(synthetic):
    """A world that repeats its frame (copy-last, a paused player) stood still: every step is
    estimated, none translated, and the trajectory stays at the identity — on OpenCV 4 and 5."""
    frame = synthetic["rgb"][:1]
    for cfg in (MotionConfig(features="orb"), MotionConfig(features="klt")):
        m = estimate_trajectory(np.repeat(frame, 4, axis=0), synthetic["K"][:4], config=cfg)
        assert m.valid.all() and not m.translated.any()
        np.testing.assert_allclose(m.poses, np.broadcast_to(np.eye(4), (4, 4, 4)), atol=1e-9)
        m = estimate_trajectory(
            np.repeat(frame, 3, axis=0), synthetic["K"][:3], depth=synthetic["depth"][:3], config=cfg
        )
        assert m.valid.all() and not m.translated.any()


def _walk(name: str, **cfg):
    from loci.engines import EngineUnavailable, make_engine

    try:
        engine = make_engine(name, **cfg)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    with engine:
        obs = [engine.reset(engine.levels()[0], 0)]
        obs += [engine.step(k) for k in WALK]
    return {
        "rgb": np.stack([o.rgb for o in obs]),
        "depth": np.stack([o.depth for o in obs]),
        "K": np.stack([o.K for o in obs]),
        "poses": np.stack([o.pose for o in obs]).astype(np.float64),
    }


@pytest.fixture(scope="module")
def synthetic():
    return _walk("synthetic", size=(120, 160))


@pytest.fixture(scope="module")
def doom():
    pytest.importorskip("vizdoom")
    return _walk("vizdoom")


# (estimator config, min TA, max RotErr rad): measured TA 0.93 / 0.995, RotErr 0.43 / 0.41 (synthetic / doom)
CASES = {
    "synthetic": (MotionConfig(features="klt"), 0.75, 2.5),
    "doom": (MotionConfig(features="orb"), 0.9, 1.5),
}


@pytest.mark.parametrize("name", ["synthetic", "doom"])
def test_estimator_on_engine_frames(name, request):
    walk = request.getfixturevalue(name)
    cfg, min_ta, max_rot = CASES[name]
    m = estimate_trajectory(walk["rgb"], walk["K"], depth=walk["depth"], config=cfg)
    truth, wrong = walk["poses"], _reverse_turns(walk["poses"])
    ta, err = (
        trajectory_accuracy(m.poses, truth, m.valid, translated=m.translated),
        camera_errors(m.poses, truth),
    )
    ta_wrong = trajectory_accuracy(m.poses, wrong, m.valid, SIGNED)
    err_wrong = camera_errors(m.poses, wrong)
    print(
        name,
        f"TA {ta.score:.3f} RotErr {err.rot_err:.3f} TransErr {err.trans_err:.3f} | wrong: "
        f"signed TA {ta_wrong.score:.3f} RotErr {err_wrong.rot_err:.3f} TransErr {err_wrong.trans_err:.3f}",
    )
    assert ta.score >= min_ta and ta.accurate
    assert err.rot_err <= max_rot
    assert ta_wrong.score < ta.score - 0.3 and err_wrong.rot_err > 2 * err.rot_err
    # pixels only (two-view, scale-free): weaker, but still clearly on the right side
    pix = estimate_trajectory(walk["rgb"], walk["K"], config=cfg)
    ta_pix = trajectory_accuracy(pix.poses, truth, pix.valid, SIGNED)
    ta_pix_wrong = trajectory_accuracy(pix.poses, wrong, pix.valid, SIGNED)
    print(
        name,
        f"pixels only: signed TA {ta_pix.score:.3f} vs wrong {ta_pix_wrong.score:.3f}, "
        f"RotErr {camera_errors(pix.poses, truth).rot_err:.3f} vs {camera_errors(pix.poses, wrong).rot_err:.3f}",
    )
    assert ta_pix.score > ta_pix_wrong.score + 0.1


def test_unknown_depth_falls_back_to_two_view(synthetic):
    """Where the depth is unknown (sky, void), PnP has nothing to lift: the step is estimated from the
    essential matrix as without depth, not dropped."""
    cfg = MotionConfig(features="klt")
    rgb, K = synthetic["rgb"], synthetic["K"]
    no_depth = estimate_trajectory(rgb, K, config=cfg)
    sky = estimate_trajectory(rgb, K, depth=np.zeros(rgb.shape[:3], np.float32), config=cfg)
    assert no_depth.valid.sum() >= len(no_depth.valid) // 2
    np.testing.assert_array_equal(sky.valid, no_depth.valid)
    np.testing.assert_allclose(sky.poses, no_depth.poses, atol=1e-9)


def test_translated_flags_decouple_steps():
    """One estimated step ten times too long makes every other step "still" under the fraction rule;
    the estimator's per-step flags keep them moving."""
    ref = chain(np.stack([_step(tz=0.15)] * 5))
    est = chain(np.stack([_step(tz=0.15)] * 4 + [_step(tz=9.0)]))
    assert trajectory_accuracy(est, ref).per_step == pytest.approx([0.5] * 4 + [1.0])
    moving = np.ones(5, bool)
    assert trajectory_accuracy(est, ref, translated=moving).score == pytest.approx(1.0)
    flags = moving.copy()
    flags[2] = False  # the estimator called step 2 a pure rotation: its translation is still
    assert trajectory_accuracy(est, ref, translated=flags).per_step == pytest.approx([1, 1, 0.5, 1, 1])
    with pytest.raises(ValueError, match="translated"):
        trajectory_accuracy(est, ref, translated=moving[:3])


K_TEST = np.array([[80.0, 0, 80], [0, 80, 60], [0, 0, 1]])


def _pixels(points_cam: np.ndarray) -> np.ndarray:
    h = points_cam @ K_TEST.T
    return h[:, :2] / h[:, 2:]


def _normalized(px: np.ndarray) -> np.ndarray:
    h = np.concatenate([px, np.ones((len(px), 1))], 1) @ np.linalg.inv(K_TEST).T
    return h[:, :2]


def test_trimmed_rotation_fit_ignores_mismatches():
    """A pure 10-degree turn with a third of the matches wrong: the trimmed fit finds the rotation
    (closed form: the turn itself) and no parallax; the plain least-squares fit is bent by them."""
    rng = np.random.default_rng(0)
    pa = rng.uniform([5, 5], [155, 115], (120, 2))
    R = _step(yaw=math.radians(10))[:3, :3].T  # camera a -> camera b coordinates
    bearings = np.concatenate([_normalized(pa), np.ones((120, 1))], 1)
    pb = _pixels(bearings @ R.T)
    pb[:40] += rng.normal(0, 6, (40, 2))  # mismatches
    xa, xb = _normalized(pa), _normalized(pb)
    R_fit, parallax = _rotation_parallax(xa, xb, pb, K_TEST)
    angle = math.degrees(math.acos(np.clip((np.trace(R_fit.T @ R) - 1) / 2, -1, 1)))
    assert angle < 0.05 and parallax < 0.1
    _, plain = _rotation_parallax(xa, xb, pb, K_TEST, trims=0)
    assert plain > 5 * parallax


def test_parallax_judged_on_points_of_known_depth():
    """Forward 0.5 m past a sky at infinity (depth unknown, 0) and 40 near points: the sky's
    matches show no parallax and call the step a rotation; judged on known depth, it translates."""
    rng = np.random.default_rng(1)
    sky = rng.uniform([5, 5], [155, 55], (200, 2))  # the upper half: sky; the lower half: near
    near_px = rng.uniform([5, 65], [155, 115], (40, 2))
    near = np.concatenate([_normalized(near_px), np.ones((40, 1))], 1) * rng.uniform(2, 4, (40, 1))
    pa = np.concatenate([sky, near_px])
    pb = np.concatenate([sky, _pixels(near - [0, 0, 0.5])])
    depth = np.zeros((120, 160))
    u, v = np.floor(near_px).astype(int).T
    depth[v, u] = near[:, 2]
    inliers = np.ones(len(pa), bool)
    cfg = MotionConfig()
    xa, xb = _normalized(pa), _normalized(pb)
    _, blind = _rotation_parallax(xa, xb, pb, K_TEST)
    judge = _judged(inliers, pa, depth, cfg)
    assert judge.sum() == 40 and not judge[:200].any()
    _, seen = _rotation_parallax(xa[judge], xb[judge], pb[judge], K_TEST)
    assert blind < cfg.min_parallax_px <= seen
    assert _judged(inliers, pa, None, cfg).all()  # no depth: every inlier judges
    few = depth.copy()
    few[v[10:], u[10:]] = 0  # 10 known points, fewer than min_inliers: every inlier judges again
    assert _judged(inliers, pa, few, MotionConfig(min_inliers=15)).all()


def test_translation_only_fit_when_no_rotation_is_needed():
    """Matches of a step forward (pixel noise 0.5 px): the rotation-free fit explains them as well as
    PnP's, so the step gets no rotation and the true translation (closed form); after a 5° turn it
    does not, and PnP's rotation stands."""
    import cv2

    rng = np.random.default_rng(2)
    X = np.concatenate([rng.uniform(-3, 3, (60, 2)), rng.uniform(2, 8, (60, 1))], 1)  # camera a
    t_true = np.array([0.05, 0.0, -0.4])  # x_b = R x_a + t: walking 0.4 m forward
    for yaw, expect_rotation in ((0.0, False), (5.0, True)):
        R_true = _step(yaw=math.radians(yaw))[:3, :3]
        pb = _pixels(X @ R_true.T + t_true) + rng.normal(0, 0.5, (60, 2))
        _, rvec, tvec = cv2.solvePnP(X, pb, K_TEST, None, flags=cv2.SOLVEPNP_ITERATIVE)
        R, t = cv2.Rodrigues(rvec)[0], tvec[:, 0]
        t_only = _translation_only(X, pb, K_TEST, R, t, tolerance_px=1.0)
        if expect_rotation:
            assert t_only is None
        else:
            assert t_only is not None and np.allclose(t_only, t_true, atol=0.02)
