"""MiniWorld engine: camera-model warp check (with wrong-convention contrasts), contract, determinism,
collisions, start poses and errors. Skipped where miniworld or EGL is missing (except the error tests)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from loci.control import PoseController, key_delta
from loci.engines.base import EngineUnavailable
from loci.engines.camera_check import warp_psnr
from loci.engines.miniworld import LEVELS, MiniworldConfig, MiniworldEngine, camera_intrinsics
from loci.engines.observation import Observation
from loci.geometry import intrinsics_from_fov, rebase_poses

CAMERA_LAYOUTS = [("OneRoom", 0), ("OneRoom", 1), ("Maze", 0), ("Maze", 1), ("ThreeRooms", 0)]
WRONG_KS = (1, 2, 4)
# motion -> (ks, min mean PSNR over the layouts at every k, {wrong convention: min gap in dB below the
# correct PSNR at every k in WRONG_KS}). Turns run at a pitch of 10°; 10° turns share < 5 % of the view
# beyond k = 6. Measured (render_scale 2, 120x160; mean over CAMERA_LAYOUTS, k = 1..8):
#   Q 37.4-42.9  E 36.4-40.7  W 30.9-34.3  S 27.9-30.7  A 36.0-37.4  D 34.3-36.6  R 33.2-43.4  F 27.6-30.2
#   smallest gaps: rotation flipped 11 dB, FOV horizontal 9.5 dB, pitch ignored 7.6 dB (turns) /
#   12.5 dB (R/F), translation flipped 11.9 dB.
MOTIONS: dict[str, tuple[range, float, dict[str, float]]] = {
    "Q": (range(1, 7), 34.5, {"rotation_flipped": 8.0, "fov_horizontal": 6.0, "pitch_ignored": 4.0}),
    "E": (range(1, 7), 33.5, {"rotation_flipped": 8.0, "fov_horizontal": 6.0, "pitch_ignored": 4.0}),
    "W": (range(1, 9), 28.0, {"translation_flipped": 8.0}),
    "S": (range(1, 9), 25.0, {"translation_flipped": 8.0}),
    "A": (range(1, 9), 33.0, {"fov_horizontal": 10.0, "translation_flipped": 10.0}),
    "D": (range(1, 9), 31.5, {"fov_horizontal": 10.0, "translation_flipped": 10.0}),
    "R": (range(1, 9), 30.0, {"rotation_flipped": 10.0, "fov_horizontal": 7.0, "pitch_ignored": 10.0}),
    "F": (range(1, 9), 25.0, {"rotation_flipped": 9.0, "fov_horizontal": 8.0, "pitch_ignored": 10.0}),
}


@pytest.fixture(scope="module")
def engine():
    try:
        eng = MiniworldEngine()
    except EngineUnavailable as e:
        pytest.skip(f"MiniWorld unavailable: {e}")
    yield eng
    eng.close()


def _centre(engine: MiniworldEngine, level: str, seed: int) -> Observation:
    """Reset with the seed's heading but standing near the middle of the 10 m room (away from walls)."""
    start = engine.reset(level, seed).pose.copy()
    for x in (5.0, 3.0, 7.0):  # the seed's box may stand in the middle
        start[[0, 2], 3] = (x, 5.0)
        try:
            return engine.reset(level, seed, start_pose=start)
        except ValueError:
            continue
    raise AssertionError("no free start near the middle of the room")


# --- wrong conventions: the same frames with one convention broken ----------------------------------
def _level(pose: np.ndarray) -> np.ndarray:
    """``pose`` with its pitch dropped (the camera turned level about its x axis)."""
    f = pose[:3, 2].astype(np.float64)
    f[1] = 0
    f /= np.linalg.norm(f)
    x = np.cross(f, (0.0, 1.0, 0.0))
    out = pose.copy()
    out[:3, 0], out[:3, 1], out[:3, 2] = x, np.cross(f, x), f
    return out


def _wrong(name: str, a: Observation, b: Observation) -> tuple[Observation, Observation]:
    rep = dataclasses.replace
    if name == "rotation_flipped":  # the relative rotation applied the other way (yaw or pitch sign)
        pose = b.pose.copy()
        ra = a.pose[:3, :3]
        pose[:3, :3] = ra @ (ra.T @ b.pose[:3, :3]).T
        return a, rep(b, pose=pose)
    if name == "fov_horizontal":  # cam_fov_y taken as the horizontal FOV
        w = a.size[1]
        K = a.K.copy()
        K[0, 0] = K[1, 1] = (w / 2) / math.tan(math.radians(60) / 2)
        return rep(a, K=K), rep(b, K=K)
    if name == "pitch_ignored":  # poses from the heading only
        return rep(a, pose=_level(a.pose)), rep(b, pose=_level(b.pose))
    if name == "translation_flipped":  # moves along -z / -x of the camera
        pose = b.pose.copy()
        pose[:3, 3] = 2 * a.pose[:3, 3] - b.pose[:3, 3]
        return a, rep(b, pose=pose)
    raise KeyError(name)


@pytest.fixture(scope="module")
def warp_table(engine):
    """``{(motion, k): [(psnr, {wrong: psnr})]}`` over CAMERA_LAYOUTS, frame 0 -> frame k."""
    table: dict[tuple[str, int], list[tuple[float, dict[str, float]]]] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # torch's OpenMP threads spinning next to llvmpipe make both ~10x slower
    try:
        _fill_warp_table(engine, table)
    finally:
        torch.set_num_threads(threads)
    return table


def _fill_warp_table(engine: MiniworldEngine, table: dict) -> None:
    for level, seed in CAMERA_LAYOUTS:
        for motion, (ks, _, wrongs) in MOTIONS.items():
            engine.reset(level, seed)
            if motion in "QE":
                engine.step("R")  # turn at a pitch of 10°, so that "pitch ignored" is visible
                engine.step("R")
            frames = [engine.step(".")] + [engine.step(motion) for _ in range(max(ks))]
            for k in ks:
                a, b = frames[0], frames[k]
                if np.abs(a.pose - b.pose).max() < 1e-6:  # blocked by a wall from the start
                    continue
                wrong = {w: warp_psnr(*_wrong(w, a, b)).psnr for w in wrongs if k in WRONG_KS}
                table.setdefault((motion, k), []).append((warp_psnr(a, b).psnr, wrong))


def test_camera_model_warp_check(warp_table):
    """Frame t warped into t+k with the engine's depth, K and poses matches the real frame (mean PSNR
    over the layouts above the motion's threshold at every k), and every deliberately wrong
    convention scores clearly lower. One test, so that xdist builds the table once; all misses listed."""
    misses = []
    for motion, (ks, threshold, wrongs) in MOTIONS.items():
        for k in ks:
            rows = warp_table.get((motion, k), [])
            if len(rows) < 3:
                misses.append(f"{motion} x{k}: only {len(rows)} layouts moved")
                continue
            good = float(np.mean([r[0] for r in rows]))
            if good <= threshold:
                misses.append(f"{motion} x{k}: mean warp PSNR {good:.1f} dB <= {threshold}")
            for name, gap in wrongs.items() if k in WRONG_KS else ():
                bad = float(np.mean([r[1][name] for r in rows]))
                if good - bad <= gap:
                    misses.append(f"{motion} x{k}: {name} {bad:.1f} dB, correct {good:.1f} dB (gap <= {gap})")
    assert not misses, "\n".join(misses)


# --- contract -------------------------------------------------------------------------------------
def test_observation_contract(engine):
    obs = engine.reset("OneRoom", 0)
    h, w = engine.cfg.size
    assert obs.index == 0 and obs.action == ""
    assert obs.rgb.shape == (h, w, 3) and obs.rgb.dtype == np.uint8
    assert obs.depth.shape == (h, w) and obs.depth.dtype == np.float32
    assert np.isfinite(obs.depth).all() and (obs.depth >= 0).all() and (obs.depth > 0).mean() > 0.99
    assert 0.3 < obs.depth[obs.depth > 0].min() and obs.depth.max() < engine.cfg.far_m
    assert obs.K.dtype == np.float32 and obs.pose.dtype == np.float32 and obs.pose.shape == (4, 4)
    R = obs.pose[:3, :3].astype(np.float64)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-6)
    assert np.linalg.det(R) > 0 and obs.pose[3].tolist() == [0, 0, 0, 1]
    assert obs.pose[1, 3] == pytest.approx(1.5)  # eye height in MiniWorld's y-up metres
    assert obs.pose[1, 1] == pytest.approx(-1.0)  # level camera: image down = world down
    assert obs.rgb.std() > 10
    nxt = engine.step("qw")
    assert nxt.index == 1 and nxt.action == "WQ"
    assert engine.step("").action == "." and engine.step("WS").action == "WS"


def test_intrinsics_vertical_fov_square_pixels(engine):
    obs = engine.reset("Hallway", 0)
    h, w = obs.size
    f = (h / 2) / math.tan(math.radians(60) / 2)
    np.testing.assert_allclose(obs.K, [[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], rtol=1e-6)
    ref = intrinsics_from_fov((90, 120), fov_y_deg=45.0).numpy()
    np.testing.assert_allclose(camera_intrinsics(45.0, (90, 120)), ref, rtol=1e-6)
    assert ref[0, 0] == pytest.approx(45 / math.tan(math.radians(22.5)))


def test_sky_depth_is_zero(engine):
    engine.reset("RoomObjects", 0)  # an open-air level
    for _ in range(6):
        obs = engine.step("R")
    sky = obs.depth == 0
    assert 0.05 < sky.mean() < 0.95
    assert obs.depth[~sky].max() < 60
    assert sky[0].mean() > sky[-1].mean()  # the sky is at the top


@pytest.mark.parametrize("keys", ["W", "S", "A", "D", "Q", "E", "R", "F", "WQ", "DE", "SA"])
def test_key_moves_match_control_deltas(engine, keys):
    """Relative pose of one step (away from walls, at pitch 0) == loci's key delta with the same sizes."""
    a = _centre(engine, "OneRoom", 2)
    b = engine.step(keys)
    rel = np.linalg.inv(a.pose.astype(np.float64)) @ b.pose.astype(np.float64)
    np.testing.assert_allclose(rel, key_delta(keys, engine.cfg.key_steps).numpy(), atol=2e-5)


def _shift(a: np.ndarray, b: np.ndarray, axis: int, max_shift: int = 40) -> int:
    """The integer shift along ``axis`` (1 = x, 0 = y) that best moves image ``a`` onto ``b``."""
    ga, gb = a.astype(np.float64).mean(-1), b.astype(np.float64).mean(-1)
    n = ga.shape[axis]
    errs = {}
    for s in range(-max_shift, max_shift + 1):
        src = np.take(ga, range(max(0, -s), n - max(0, s)), axis=axis)
        dst = np.take(gb, range(max(0, s), n - max(0, -s)), axis=axis)
        errs[s] = float(((src - dst) ** 2).mean())
    return min(errs, key=errs.get)


def test_image_motion_signs(engine):
    """Q: what was left of the centre moves right; R: what was above the centre moves down."""
    a = engine.reset("ThreeRooms", 0)
    f = a.K[0, 0]
    b = engine.step("Q")
    expected = f * math.tan(math.radians(engine.cfg.turn_deg))
    assert _shift(a.rgb, b.rgb, axis=1) == pytest.approx(expected, abs=3)
    assert _shift(b.rgb, engine.step("E").rgb, axis=1) == pytest.approx(-expected, abs=3)
    c = engine.step("R")
    assert _shift(a.rgb, c.rgb, axis=0) == pytest.approx(f * math.tan(math.radians(5)), abs=3)
    # the same from the poses: a world point left of / above the centre
    pts_cam = np.array([[-0.5, 0.0, 3.0, 1.0], [0.0, -0.5, 3.0, 1.0]])
    world = a.pose.astype(np.float64) @ pts_cam.T
    in_b = np.linalg.inv(b.pose.astype(np.float64)) @ world
    in_c = np.linalg.inv(c.pose.astype(np.float64)) @ world
    assert in_b[0, 0] / in_b[2, 0] > pts_cam[0, 0] / pts_cam[0, 2]  # moved right
    assert in_c[1, 1] / in_c[2, 1] > pts_cam[1, 1] / pts_cam[1, 2]  # moved down


def test_pitch_is_clamped(engine):
    engine.reset("OneRoom", 0)
    for _ in range(20):
        obs = engine.step("R")
    limit = math.radians(engine.cfg.max_pitch_deg)
    assert math.asin(obs.pose[1, 2]) == pytest.approx(limit, abs=1e-5)  # forward's y = sin(pitch)
    np.testing.assert_array_equal(engine.step("R").pose, obs.pose)
    again = engine.reset("OneRoom", 0, start_pose=obs.pose)  # a pose at the limit is a valid start
    np.testing.assert_allclose(again.pose, obs.pose, atol=1e-5)


def test_walk_matches_pose_controller(engine):
    """Rebased engine poses follow loci's walk-mode controller (arcs, clamped pitch, level moves)."""
    first = _centre(engine, "OneRoom", 3)
    seq = ["W", "WQ", "R", "R", "WE", "D", "SA", "F", "Q", ".", "DQ", "W"]
    poses = [first.pose] + [engine.step(k).pose for k in seq]
    rebased = rebase_poses(torch.from_numpy(np.stack(poses)).double())
    ctrl = PoseController(engine.cfg.key_steps, mode="walk")
    expected = [ctrl.pose] + [ctrl.step(k) for k in seq]
    np.testing.assert_allclose(rebased.numpy(), torch.stack(expected).numpy(), atol=1e-4)


@pytest.mark.parametrize("keys", ["W", "D", "SA"])
def test_walls_block_moves(engine, keys):
    _centre(engine, "OneRoom", 4)
    poses = [engine.step(keys).pose for _ in range(120)]  # 18 m: longer than the 10 m room
    np.testing.assert_array_equal(poses[-1], poses[-2])
    x, z = poses[-1][0, 3], poses[-1][2, 3]
    assert 0.4 - 1e-6 <= min(x, z) and max(x, z) <= 10 - 0.4 + 1e-6  # agent radius from the walls
    steps = [np.linalg.norm(q[[0, 2], 3] - p[[0, 2], 3]) for p, q in itertools.pairwise(poses)]
    moved = [s for s in steps if s > 0]
    assert moved and np.allclose(moved, engine.cfg.move_m * math.sqrt(len(keys)), atol=1e-5)  # no sliding
    assert engine.step("E").index == 121  # still steps after hitting the wall


# --- determinism, start poses ---------------------------------------------------------------------
def test_same_seed_same_frames(engine):
    def run(level: str, seed: int) -> list[Observation]:
        return [engine.reset(level, seed)] + [engine.step(k) for k in "WQWRD"]

    first = run("FourRooms", 5)
    engine.reset("OneRoom", 5)  # another level in between: the env is rebuilt
    again = run("FourRooms", 5)
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x.rgb, y.rgb)
        np.testing.assert_array_equal(x.depth, y.depth)
        np.testing.assert_array_equal(x.pose, y.pose)
    other = engine.reset("FourRooms", 6)
    assert not np.array_equal(other.pose, first[0].pose) and not np.array_equal(other.rgb, first[0].rgb)


def test_start_pose_round_trip(engine):
    engine.reset("Maze", 7)
    for k in "WRRQ":
        target = engine.step(k)
    obs = engine.reset("Maze", 7, start_pose=target.pose)
    np.testing.assert_allclose(obs.pose, target.pose, atol=1e-5)
    np.testing.assert_array_equal(obs.rgb, target.rgb)
    assert obs.index == 0 and engine.step("W").index == 1


def test_invalid_start_poses(engine):
    good = engine.reset("OneRoom", 0).pose.copy()
    outside = good.copy()
    outside[[0, 2], 3] = (-5.0, 5.0)
    in_wall = good.copy()
    in_wall[[0, 2], 3] = (0.1, 5.0)  # inside the room, but the agent's 0.4 m radius hits the wall
    high = good.copy()
    high[1, 3] = 3.0
    rolled = good.copy()
    c, s = math.cos(0.3), math.sin(0.3)
    rolled[:3, :3] = good[:3, :3] @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)
    scaled = good.copy()
    scaled[:3, :3] *= 2
    steep = good.copy()
    a = math.radians(80)
    steep[:3, :3] = good[:3, :3] @ np.array(
        [[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]], np.float32
    )
    for bad, match in [
        (outside, "outside"),
        (in_wall, "collides"),
        (high, "height"),
        (rolled, "roll"),
        (scaled, "rigid"),
        (steep, "pitch"),
        (good[:3], "shape"),
    ]:
        with pytest.raises(ValueError, match=match):
            engine.reset("OneRoom", 0, start_pose=bad)
        with pytest.raises(RuntimeError):  # a failed reset leaves no episode
            engine.step("W")


# --- bad input ------------------------------------------------------------------------------------
def test_bad_input(engine):
    with pytest.raises(ValueError, match="unknown miniworld level"):
        engine.reset("Doom", 0)
    with pytest.raises(ValueError, match="seed"):
        engine.reset("OneRoom", -1)
    engine.reset("OneRoom", 0)
    with pytest.raises(ValueError, match="unknown key"):
        engine.step("WZ")
    with pytest.raises(ValueError):
        engine.step(3)  # type: ignore[arg-type]
    engine.close()
    with pytest.raises(RuntimeError, match="before reset"):
        engine.step("W")
    assert engine.reset("OneRoom", 0).index == 0  # usable again after close()


def test_step_before_reset():
    try:
        fresh = MiniworldEngine(MiniworldConfig(size=(60, 80), render_scale=1))
    except EngineUnavailable as e:
        pytest.skip(f"MiniWorld unavailable: {e}")
    with fresh, pytest.raises(RuntimeError, match="before reset"):
        fresh.step("W")


def test_config_validation():
    for kw in [{"size": (120,)}, {"size": (0, 160)}, {"render_scale": 0}, {"move_m": 0}, {"turn_deg": -1}]:
        with pytest.raises(ValueError):
            MiniworldConfig(**kw)
    assert MiniworldConfig().key_steps.move_m == 0.15


def test_unavailable_without_miniworld(monkeypatch):
    monkeypatch.setitem(sys.modules, "miniworld", None)
    with pytest.raises(EngineUnavailable, match="pip install miniworld"):
        MiniworldEngine()


def test_levels_all_listed(engine):
    assert engine.levels() == LEVELS and len(set(LEVELS)) == len(LEVELS)
    assert {"OneRoom", "Hallway", "ThreeRooms", "FourRooms", "Maze", "MazeS3", "Sidewalk"} <= set(LEVELS)


def test_import_does_not_load_miniworld():
    code = "import sys, loci.engines.miniworld; assert 'miniworld' not in sys.modules and 'pyglet' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
