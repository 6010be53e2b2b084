"""The gymnasium wrapper passes gymnasium's own checker and steps like the session."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from loci.gym import ACTIONS, engine_env


@pytest.mark.parametrize("backend", ["warp", "engine"])
def test_check_env_passes(backend):
    env = engine_env("synthetic", "room", backend=backend, max_steps=20)
    check_env(env, skip_render_check=True)


def test_steps_move_and_truncate():
    env = engine_env("synthetic", "room", backend="warp", max_steps=3)
    obs, _info = env.reset(seed=4)
    assert obs["rgb"].shape == env.observation_space["rgb"].shape
    pose0 = obs["pose"]
    obs, reward, terminated, truncated, _ = env.step(ACTIONS.index("W"))
    assert not np.allclose(obs["pose"], pose0) and reward == 0.0 and not terminated and not truncated
    env.step(0)
    *_, truncated, _ = env.step(0)
    assert truncated
    with pytest.raises(ValueError, match="action"):
        env.step(42)
