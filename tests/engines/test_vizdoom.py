"""ViZDoom engine: camera-model check (with teeth), determinism, the observation contract, errors."""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("vizdoom")

import itertools

from loci.engines.base import EngineUnavailable
from loci.engines.camera_check import warp_psnr
from loci.engines.observation import Observation
from loci.engines.resample import downsample_depth
from loci.engines.vizdoom import (
    DEPTH_TABLE,
    FY_OVER_FX,
    MAP_UNITS_PER_METRE,
    VizdoomConfig,
    VizdoomEngine,
    doom_depth,
    doom_intrinsics,
    doom_pose,
)
from loci.geometry import intrinsics_from_fov, pitch_shear_shift, shift_principal_point

LEVELS = ("MAP01", "MAP07")  # training maps with lit rooms (MAP02's dark rooms make PSNR too easy)
SEEDS = (0, 1)
KS = (1, 2, 4, 8)
# Mean PSNR (dB) over LEVELS x SEEDS x KS at 160x120 must reach these (measured - ~2 dB margin).
MIN_PSNR = {"Q": 28.0, "E": 28.0, "W": 24.0, "A": 27.0, "D": 27.0, "R": 33.0, "F": 30.0}
MIN_GAP = 5.0  # dB a deliberately wrong convention must lose on average


@pytest.fixture(scope="module")
def engine():
    with VizdoomEngine() as e:
        yield e


def _yaw(pose: np.ndarray) -> float:
    return math.degrees(math.atan2(pose[1, 2], pose[0, 2]))


def _doom_pitch(obs: Observation) -> float:
    """ViZDoom's PITCH (degrees, > 0 = looking down) recovered from ``K``."""
    h = obs.size[0]
    return math.degrees(math.atan((h / 2 - obs.K[1, 2]) / obs.K[1, 1]))


def _yaw_flipped(obs: Observation) -> Observation:
    """Wrong: yaw counted clockwise."""
    p = obs.pose * MAP_UNITS_PER_METRE
    return dataclasses.replace(obs, pose=doom_pose(p[0, 3], p[1, 3], p[2, 3], -_yaw(obs.pose)))


def _heading_reversed(obs: Observation) -> Observation:
    """Wrong: ANGLE 0 taken as west (the camera faces backwards)."""
    p = obs.pose * MAP_UNITS_PER_METRE
    return dataclasses.replace(obs, pose=doom_pose(p[0, 3], p[1, 3], p[2, 3], _yaw(obs.pose) + 180))


def _pitch_as_rotation(obs: Observation) -> Observation:
    """Wrong: pitch as a camera rotation about x with a centred principal point."""
    p = math.radians(_doom_pitch(obs))  # > 0 looks down
    c, s = math.cos(p), math.sin(p)
    rx = np.array([[1, 0, 0], [0, c, s], [0, -s, c]], np.float32)  # tilts z_cam towards +y (down)
    pose, K = obs.pose.copy(), obs.K.copy()
    pose[:3, :3] = pose[:3, :3] @ rx
    K[1, 2] = obs.size[0] / 2
    return dataclasses.replace(obs, pose=pose, K=K)


WRONG = {"Q": _yaw_flipped, "E": _yaw_flipped, "R": _pitch_as_rotation, "F": _pitch_as_rotation}


@pytest.mark.parametrize("motion", list(MIN_PSNR))
def test_camera_model_warp_psnr(engine, motion):
    wrong = WRONG.get(motion, _heading_reversed)
    right, gaps = [], []
    for level in LEVELS:
        for seed in SEEDS:
            first = engine.reset(level, seed)
            if motion == "F":  # start looking up so that every F step changes the pitch
                first = [engine.step("R") for _ in range(3)][-1]
            frames = [first] + [engine.step(motion) for _ in range(max(KS))]
            for k in KS:
                try:
                    good = warp_psnr(frames[0], frames[k]).psnr
                except ValueError:  # too little co-visible (a long walk around a corner)
                    continue
                right.append(good)
                try:
                    bad = warp_psnr(wrong(frames[0]), wrong(frames[k])).psnr
                except ValueError:
                    bad = 0.0
                gaps.append(good - bad)
    print(
        f"{motion}: PSNR {np.mean(right):.1f} dB over {len(right)} pairs, wrong-convention gap {np.mean(gaps):.1f} dB"
    )
    assert len(right) >= 12
    assert np.mean(right) >= MIN_PSNR[motion]
    assert np.mean(gaps) >= MIN_GAP


def test_intrinsics_equal_the_loci_geometry_construction():
    for size in ((120, 160), (240, 320), (60, 80)):
        for pitch in (-32.0, -7.5, 0.0, 13.0, 56.0):
            K = intrinsics_from_fov(size, fov_x_deg=90.0, dtype=torch.float64)
            K[1, 1] *= FY_OVER_FX
            K = shift_principal_point(K, dy=pitch_shear_shift(K, math.radians(-pitch)))  # PITCH < 0 = up
            np.testing.assert_allclose(doom_intrinsics(pitch, size), K.numpy(), rtol=1e-6, atol=1e-4)


def test_fast_depth_downsample_matches_resample():
    rng = np.random.default_rng(0)
    for factor in (1, 2, 4, 5):
        for trial in range(6):
            d8 = rng.integers(0, 256, (240, 320)).astype(np.uint8)
            if trial % 2:  # smooth surfaces with a few holes and saturated pixels
                d8 = rng.integers(20, 23, (240, 320)).astype(np.uint8)
                d8[rng.random(d8.shape) < 0.05] = rng.choice([0, 127, 255])
            fast, ref = doom_depth(d8, factor), downsample_depth(DEPTH_TABLE[d8], factor)
            assert fast.dtype == np.float32 and fast.shape == ref.shape
            np.testing.assert_array_equal(fast == 0, ref == 0)
            np.testing.assert_allclose(fast, ref, rtol=2e-6)


def test_depth_table_calibration_and_invalid_levels():
    assert DEPTH_TABLE[0] == 0 and (DEPTH_TABLE[127:] == 0).all()
    assert DEPTH_TABLE[100] == pytest.approx((7.135 * 100 + 9.15) / 32)
    assert (np.diff(DEPTH_TABLE[1:127]) > 0).all()


def test_levels_and_config_validation(engine):
    assert list(engine.levels()) == [f"MAP{i:02d}" for i in range(1, 33)]
    for bad in ((100, 100), (120, 120), (0, 0), (480, 640)):
        with pytest.raises(ValueError, match="size"):
            VizdoomConfig(size=bad)
    with pytest.raises(ValueError, match="tics_per_step"):
        VizdoomConfig(tics_per_step=0)
    with pytest.raises(ValueError, match="turn_deg"):
        VizdoomConfig(turn_deg=-1.0)
    assert VizdoomConfig(size=(240, 320)).factor == 1


def test_observation_contract(engine):
    obs = engine.reset("MAP01", 3)
    assert (obs.index, obs.action) == (0, "")
    assert obs.rgb.shape == (120, 160, 3) and obs.rgb.dtype == np.uint8
    assert obs.depth.shape == (120, 160) and obs.depth.dtype == np.float32
    assert np.isfinite(obs.depth).all() and (obs.depth >= 0).all() and (obs.depth > 0).mean() > 0.5
    assert obs.K.dtype == np.float32 and obs.pose.dtype == np.float32
    np.testing.assert_allclose(obs.K, doom_intrinsics(0.0, (120, 160)))
    R = obs.pose[:3, :3].astype(np.float64)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-6)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(R[:, 1], [0, 0, -1], atol=1e-6)  # level camera: y_cam points down
    step = engine.step("qw")
    assert (step.index, step.action) == (1, "WQ")
    assert engine.step("").action == "."


def test_same_seed_same_start_different_seed_different_start(engine):
    a = engine.reset("MAP01", 11)
    engine.step("W")
    engine.reset("MAP07", 11)  # a level switch in between must not matter
    b = engine.reset("MAP01", 11)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.pose, b.pose)
    poses = [engine.reset("MAP01", s).pose[:3, 3] for s in (12, 13, 14)]
    assert min(np.linalg.norm(poses[i] - poses[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 0.1


def test_pitch_moves_the_principal_point(engine):
    obs = engine.reset("MAP01", 5)
    cys = [obs.K[1, 2]] + [engine.step("R").K[1, 2] for _ in range(8)]
    assert all(b >= a for a, b in itertools.pairwise(cys)) and cys[1] > cys[0]  # up: cy grows
    assert cys[-1] == cys[-2]  # clamped at the engine's limit (PITCH = -32)
    assert _doom_pitch(engine.step("F")) == pytest.approx(-32.0 + 5.0, abs=0.01)
    down = [engine.step("F").K[1, 2] for _ in range(3)]
    assert down[0] > down[1] > down[2]
    assert engine.step("Q").K[1, 2] == down[2]  # turning keeps the pitch


def test_turn_left_increases_yaw_and_brings_the_left_to_the_centre(engine):
    obs = engine.reset("MAP07", 2)
    left = engine.step("Q")
    d = (_yaw(left.pose) - _yaw(obs.pose) + 180) % 360 - 180
    assert d == pytest.approx(10.0, abs=0.01)
    np.testing.assert_array_equal(left.pose[:3, 3], obs.pose[:3, 3])
    # a point left of the centre in the first view moves towards the centre in the next one
    h, w = obs.size
    v, u = h // 2, w // 4
    z = obs.depth[v, u]
    assert z > 0
    cam = np.array([(u + 0.5 - obs.K[0, 2]) / obs.K[0, 0] * z, (v + 0.5 - obs.K[1, 2]) / obs.K[1, 1] * z, z])
    world = obs.pose[:3, :3] @ cam + obs.pose[:3, 3]
    cam2 = left.pose[:3, :3].T @ (world - left.pose[:3, 3])
    u2 = left.K[0, 0] * cam2[0] / cam2[2] + left.K[0, 2]
    assert u + 0.5 < u2 <= w / 2 + 1
    right = engine.step("E")
    assert _yaw(right.pose) == pytest.approx(_yaw(obs.pose), abs=0.01)


def test_moves_follow_the_camera_axes_and_opposites_cancel(engine):
    obs = engine.reset("MAP01", 4)
    assert np.array_equal(engine.step("WS").pose, obs.pose)  # cancelled: no move
    assert np.array_equal(engine.step("AD.").pose, obs.pose)
    assert np.array_equal(engine.step(".").pose, obs.pose)
    fwd = engine.step("W")
    d = fwd.pose[:3, 3] - obs.pose[:3, 3]
    assert np.linalg.norm(d) > 0.1 and d @ obs.pose[:3, 2] > 0.99 * np.linalg.norm(d)
    obs = engine.reset("MAP01", 4)
    d = engine.step("D").pose[:3, 3] - obs.pose[:3, 3]
    assert np.linalg.norm(d) > 0.1 and d @ obs.pose[:3, 0] > 0.99 * np.linalg.norm(d)


def test_start_pose_round_trip_and_bad_start_pose(engine):
    target = engine.reset("MAP07", 21)
    for _ in range(3):
        target = engine.step("WQ")
    again = engine.reset("MAP07", 0, start_pose=target.pose)
    np.testing.assert_allclose(again.pose[:2, 3], target.pose[:2, 3], atol=1.01 / MAP_UNITS_PER_METRE)
    np.testing.assert_allclose(again.pose[2, 3], target.pose[2, 3], atol=1e-6)
    assert _yaw(again.pose) == pytest.approx(_yaw(target.pose), abs=0.01)
    outside = target.pose.copy()
    outside[:2, 3] = 1e4
    with pytest.raises(ValueError, match="standing point"):
        engine.reset("MAP07", 0, start_pose=outside)
    with pytest.raises(ValueError, match="4, 4"):
        engine.reset("MAP07", 0, start_pose=np.eye(3))
    up = target.pose.copy()
    up[:3, :3] = np.diag([1.0, -1.0, -1.0])  # optical axis straight down
    with pytest.raises(ValueError, match="yaw"):
        engine.reset("MAP07", 0, start_pose=up)


def test_bad_input_errors(engine):
    with pytest.raises(ValueError, match="unknown vizdoom level"):
        engine.reset("MAP99", 0)
    engine.reset("MAP01", 0)
    with pytest.raises(ValueError, match="unknown key"):
        engine.step("WX")
    fresh = VizdoomEngine()  # no game is started before the first reset
    with pytest.raises(RuntimeError, match="before reset"):
        fresh.step("W")
    fresh.close()


def test_missing_vizdoom_raises_engine_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "vizdoom", None)
    with pytest.raises(EngineUnavailable, match="pip install vizdoom"):
        VizdoomEngine()


def test_monsters_option_adds_things():
    counts = {}
    for monsters in (False, True):
        with VizdoomEngine(VizdoomConfig(monsters=monsters, objects_info=True)) as e:
            e.reset("MAP01", 0)
            counts[monsters] = sum(name in ("Zombieman", "ShotgunGuy", "DoomImp") for name, *_ in e.things())
    assert counts[False] == 0 and counts[True] > 5
