"""Scripted exploration: policies that choose key actions from ground-truth observations.

They give episodes with frequent revisits for memory training and evaluation. Every policy works
on any engine: it only reads the observation's depth (for obstacles) and camera pose (for
navigating back to earlier poses, in the *camera* frame, so the engine's world axes never matter).

- ``random_walk``: forward with persistence, random turns, turns away from near obstacles.
- ``corridor``: follows the direction of greatest free depth (corridors, doorways).
- ``look_around``: turns a full circle in place, glancing up and down.
- ``loop_back``: explores, then walks back along its own trail to the start (A → B → A).
- ``detour_revisit``: a long detour, then returns to the start and looks around there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .observation import Observation


@dataclass(frozen=True)
class ExploreConfig:
    """Thresholds shared by the policies.

    near_m: free depth ahead below which a policy turns away. turn_prob: chance per step of a
    random turn burst. burst: (min, max) steps of a turn burst. reach_m: distance at which a
    waypoint counts as reached. aim_deg: bearing error above which the follower turns in place.
    out_fraction: share of the episode spent going out (loop_back, detour_revisit).
    """

    near_m: float = 0.8
    turn_prob: float = 0.08
    burst: tuple[int, int] = (2, 6)
    reach_m: float = 0.35
    aim_deg: float = 12.0
    out_fraction: float = 0.5
    trail_spacing_m: float = 0.5


def free_depth(obs: Observation, band: tuple[float, float] = (0.35, 0.65)) -> tuple[float, float, float]:
    """Robust free distance (m) to the left, centre and right of the middle rows.

    Unknown depth (0, e.g. sky or beyond range) counts as far away.
    """
    h = obs.depth.shape[0]
    rows = obs.depth[int(h * band[0]) : int(h * band[1])]
    d = np.where(rows > 0, rows, 1e3)
    thirds = np.array_split(d, 3, axis=1)
    return tuple(float(np.percentile(t, 10)) for t in thirds)  # type: ignore[return-value]


def bearing_to(obs: Observation, target: np.ndarray) -> tuple[float, float]:
    """Horizontal bearing (radians, > 0 = to the right) and distance (m) to a world point ``(3,)``."""
    w2c = np.linalg.inv(obs.pose.astype(np.float64))
    p = w2c[:3, :3] @ target + w2c[:3, 3]
    return math.atan2(p[0], p[2]), float(math.hypot(p[0], p[2]))


class Policy:
    """Base: ``reset(first_obs, episode_length)`` then ``act(obs) -> keys`` once per step."""

    name = "policy"

    def __init__(self, seed: int, cfg: ExploreConfig | None = None):
        self.cfg = cfg or ExploreConfig()
        self.rng = np.random.default_rng(seed)
        self.length = 0
        self.t = 0

    def reset(self, obs: Observation, length: int) -> None:
        self.length, self.t = length, 0

    def act(self, obs: Observation) -> str:
        self.t += 1
        return self._act(obs)

    def _act(self, obs: Observation) -> str:
        raise NotImplementedError


class RandomWalk(Policy):
    name = "random_walk"

    def reset(self, obs: Observation, length: int) -> None:
        super().reset(obs, length)
        self._turn, self._left = 0, "Q"

    def _act(self, obs: Observation) -> str:
        left, centre, right = free_depth(obs)
        if centre < self.cfg.near_m:  # blocked: turn towards the freer side until clear
            return "Q" if left >= right else "E"
        if self._turn > 0:
            self._turn -= 1
            return "W" + self._left if self.rng.random() < 0.5 else self._left
        if self.rng.random() < self.cfg.turn_prob:
            self._turn = int(self.rng.integers(*self.cfg.burst))
            self._left = "Q" if self.rng.random() < 0.5 else "E"
        return "W"


class Corridor(Policy):
    name = "corridor"

    def _act(self, obs: Observation) -> str:
        left, centre, right = free_depth(obs)
        if centre < self.cfg.near_m:
            return "Q" if left >= right else "E"
        if max(left, right) > 1.5 * centre:  # more room to one side: drift towards it while walking
            return "WQ" if left > right else "WE"
        return "W"


class LookAround(Policy):
    """Turns a full circle (in the configured turn steps) with a glance up and down, repeatedly."""

    name = "look_around"

    def __init__(self, seed: int, cfg: ExploreConfig | None = None, turn_deg: float = 10.0):
        super().__init__(seed, cfg)
        turns = max(1, round(360 / turn_deg))
        side = "Q" if self.rng.random() < 0.5 else "E"
        self._script = ["R", "R", "F", "F", "F", "F", "R", "R"] + [side] * turns

    def _act(self, obs: Observation) -> str:
        return self._script[(self.t - 1) % len(self._script)]


class _Returning(Policy):
    """Goes out with a random walk, recording a trail of positions, then follows the trail back.

    The way out ends at ``out_fraction`` of the episode, or earlier once the estimated way back
    (trail length over the measured distance per forward step, plus turning) would not fit.
    """

    def __init__(self, seed: int, cfg: ExploreConfig | None = None, out_fraction: float | None = None):
        super().__init__(seed, cfg)
        self.out_fraction = self.cfg.out_fraction if out_fraction is None else out_fraction
        self._walk = RandomWalk(int(self.rng.integers(1 << 31)), self.cfg)

    def reset(self, obs: Observation, length: int) -> None:
        super().reset(obs, length)
        self._walk.reset(obs, length)
        self.start = obs.pose.astype(np.float64).copy()
        self.trail = [self.start[:3, 3].copy()]
        self.returning = False
        self.arrived = False
        self._moved, self._forward_steps = 0.0, 0
        self._last = self.start[:3, 3].copy()
        self._last_action = ""

    def _return_cost(self) -> float:
        """Estimated steps to walk the trail back (with a margin for turns and blocked moves)."""
        per_step = self._moved / self._forward_steps if self._forward_steps else 0.0
        if per_step <= 1e-6:
            return 0.0
        length = sum(
            float(np.linalg.norm(a - b)) for a, b in zip(self.trail[1:], self.trail[:-1], strict=False)
        )
        return 1.5 * length / per_step + 2 * len(self.trail) + 10

    def _follow(self, obs: Observation) -> str:
        while self.trail:
            ang, dist = bearing_to(obs, self.trail[-1])
            if dist > self.cfg.reach_m:
                break
            self.trail.pop()
        if not self.trail:  # home: turn to face the start heading, then look around
            self.arrived = True
            fwd = self.start[:3, :3] @ np.array([0.0, 0.0, 1.0]) + self.start[:3, 3]
            ang, _ = bearing_to(obs, fwd)
            if abs(ang) > math.radians(self.cfg.aim_deg):
                return "E" if ang > 0 else "Q"
            return "."
        if abs(ang) > math.radians(self.cfg.aim_deg):
            return "E" if ang > 0 else "Q"
        return "W"

    def _act(self, obs: Observation) -> str:
        pos = obs.pose[:3, 3].astype(np.float64)
        if "W" in self._last_action:
            self._moved += float(np.linalg.norm(pos - self._last))
            self._forward_steps += 1
        self._last = pos.copy()
        if not self.returning and (
            self.t > self.out_fraction * self.length or self.t + self._return_cost() >= self.length
        ):
            self.returning = True
        if self.returning:
            action = self._follow(obs)
        else:
            if np.linalg.norm(pos - self.trail[-1]) >= self.cfg.trail_spacing_m:
                self.trail.append(pos.copy())
            action = self._walk.act(obs)
        self._last_action = action
        return action


class LoopBack(_Returning):
    name = "loop_back"


class DetourRevisit(_Returning):
    """A long detour (most of the episode), the way back, and a look around at the start."""

    name = "detour_revisit"

    def __init__(self, seed: int, cfg: ExploreConfig | None = None):
        super().__init__(seed, cfg, out_fraction=0.6)
        self._look = LookAround(seed, self.cfg)

    def _act(self, obs: Observation) -> str:
        action = super()._act(obs)
        if self.arrived and action == ".":
            return self._look.act(obs)
        return action


POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (RandomWalk, Corridor, LookAround, LoopBack, DetourRevisit)
}


def make_policy(name: str, seed: int, cfg: ExploreConfig | None = None) -> Policy:
    """A policy by name (see ``POLICIES``); unknown names raise ``ValueError`` listing the valid ones."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; valid: {', '.join(POLICIES)}")
    return POLICIES[name](seed, cfg)
