"""The synthetic engine's contract, the camera check on exact data, and the exploration policies."""

import numpy as np
import pytest

from loci.engines import POLICIES, EngineUnavailable, make_engine, make_policy, warp_psnr
from loci.engines.explore import bearing_to, free_depth

SIZE = (48, 64)


@pytest.fixture(scope="module")
def engine():
    return make_engine("synthetic", size=SIZE)


def test_contract_and_determinism(engine):
    a = engine.reset("room", 5)
    b = engine.reset("room", 5)
    c = engine.reset("room", 6)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    assert not np.array_equal(a.pose, c.pose)
    assert a.rgb.shape == (*SIZE, 3) and a.depth.dtype == np.float32 and a.index == 0 and a.action == ""
    o = engine.step("wq")
    assert o.index == 1 and o.action == "WQ"
    with pytest.raises(ValueError, match="unknown key"):
        engine.step("X")
    with pytest.raises(ValueError, match="unknown synthetic level"):
        engine.reset("MAP01", 0)


def test_step_before_reset_and_registry_errors():
    with pytest.raises(RuntimeError, match="reset"):
        make_engine("synthetic").step("W")
    with pytest.raises(ValueError, match="unknown engine"):
        make_engine("quake")
    with pytest.raises(ValueError, match="config field"):
        make_engine("synthetic", resolution=3)
    assert issubclass(EngineUnavailable, RuntimeError)


def test_camera_check_on_exact_data_and_its_teeth(engine):
    """Exact engine: warping with its own cameras scores high; a flipped yaw scores far lower."""
    src = engine.reset("room", 11)
    scores, wrong = [], []
    for keys in ("Q", "E", "W", "D", "R"):
        engine.reset("room", 11)
        tgt = engine.step(keys)
        scores.append(warp_psnr(src, tgt).psnr)
        if keys in "QE":
            flipped = tgt.pose.copy()
            flipped[:3, :3] = src.pose[:3, :3] @ (src.pose[:3, :3].T @ tgt.pose[:3, :3]).T
            bad = type(tgt)(tgt.rgb, tgt.depth, tgt.K, flipped, tgt.action, tgt.index)
            wrong.append(warp_psnr(src, bad).psnr)
    assert min(scores) > 22
    assert max(wrong) < min(scores) - 5


def test_collisions_block_moves(engine):
    engine.reset("room", 0)
    positions = [engine.step("W").pose[:3, 3] for _ in range(80)]
    assert all(engine.free(p) for p in positions)
    assert np.allclose(positions[-1], positions[-2])  # walked into something and stopped


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policies_run_and_are_seeded(engine, name):
    def play(seed):
        obs = engine.reset("room", 3)
        policy = make_policy(name, seed)
        policy.reset(obs, 30)
        actions = []
        for _ in range(30):
            actions.append(policy.act(obs))
            obs = engine.step(actions[-1])
        return actions, obs

    a1, _ = play(1)
    a2, _ = play(1)
    assert a1 == a2
    assert len(set(a1)) >= 2


def test_loop_back_returns_to_the_start(engine):
    start = engine.reset("room", 3)
    policy = make_policy("loop_back", 4)
    policy.reset(start, 120)
    obs, far = start, 0.0
    for _ in range(120):
        obs = engine.step(policy.act(obs))
        far = max(far, float(np.linalg.norm(obs.pose[:3, 3] - start.pose[:3, 3])))
    assert far > 1.0
    assert np.linalg.norm(obs.pose[:3, 3] - start.pose[:3, 3]) < 0.5
    # ... and faces roughly the start heading again, so the view is revisited.
    assert warp_psnr(start, obs).valid_fraction > 0.3


def test_free_depth_and_bearing(engine):
    obs = engine.reset("room", 3)
    left, centre, right = free_depth(obs)
    assert min(left, centre, right) > 0
    ahead = obs.pose[:3, 3] + 2 * obs.pose[:3, 2]
    right_pt = obs.pose[:3, 3] + 2 * obs.pose[:3, 0]
    assert abs(bearing_to(obs, ahead)[0]) < 1e-5 and bearing_to(obs, ahead)[1] == pytest.approx(2)
    assert bearing_to(obs, right_pt)[0] == pytest.approx(np.pi / 2)
    with pytest.raises(ValueError, match="policy"):
        make_policy("teleport", 0)
