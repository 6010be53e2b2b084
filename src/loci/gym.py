"""A gymnasium environment over any loci world: discrete key actions, RGB-D + pose observations.

``LociEnv(make_session)`` calls ``make_session(seed)`` on every reset, so the same env wraps the
engine (ground truth), the warp world or a learned model. Reward is 0: loci worlds are for
exploring and remembering, not for a task; wrap the env to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from loci.world import Frame, Session, World, WorldConfig

ACTIONS: tuple[str, ...] = (".", "W", "S", "A", "D", "Q", "E", "R", "F")


class LociEnv(gym.Env):
    """Observation: dict ``rgb (H, W, 3)`` uint8, ``depth (H, W)`` float32 metres, ``pose (4, 4)``
    float32 (global frame). Action: ``Discrete(9)`` indexing ``ACTIONS``. Truncates after
    ``max_steps``; never terminates (unless the backend's engine ends the episode)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        make_session: Callable[[int], Session],
        size: tuple[int, int],
        max_steps: int = 500,
        max_depth: float = 1000.0,
        render_mode: str | None = None,
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.make_session, self.max_steps, self.render_mode = make_session, max_steps, render_mode
        h, w = size
        self.observation_space = spaces.Dict(
            {
                "rgb": spaces.Box(0, 255, (h, w, 3), np.uint8),
                "depth": spaces.Box(0.0, max_depth, (h, w), np.float32),
                "pose": spaces.Box(-1e6, 1e6, (4, 4), np.float32),
            }
        )
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.max_depth = max_depth
        self.session: Session | None = None

    def _obs(self, frame: Frame) -> dict[str, np.ndarray]:
        return {
            "rgb": frame.rgb,
            "depth": np.minimum(frame.depth, self.max_depth).astype(np.float32),
            "pose": frame.pose.astype(np.float32),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        episode_seed = int(self.np_random.integers(0, 2**31 - 1)) if seed is None else seed
        self.session = self.make_session(episode_seed)
        return self._obs(self.session.frame), {"seed": episode_seed}

    def step(self, action: int):
        if self.session is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, {len(ACTIONS)}), got {action!r}")
        frame = self.session.step(ACTIONS[int(action)])
        truncated = frame.index >= self.max_steps
        return self._obs(frame), 0.0, False, truncated, {"index": frame.index}

    def render(self):
        return None if self.session is None or self.render_mode is None else self.session.frame.rgb


def engine_env(
    engine: str = "synthetic", level: str = "room", backend: str = "warp", **kwargs: Any
) -> LociEnv:
    """A ready env: starts every episode from ``engine``/``level`` at the reset seed, on ``backend``."""
    from loci.engines import make_engine

    eng = make_engine(engine)
    world = World(WorldConfig(backend=backend))
    size = eng.reset(level, 0).size
    return LociEnv(lambda seed: world.start_from_engine(eng, level, seed), size, **kwargs)
