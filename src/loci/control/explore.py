"""Seeded random exploration: key-based walks with persistence, optionally kept inside a box."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from .controller import Mode, PoseController
from .keys import KeyStepConfig, canonical_keys
from .trajectory import Trajectory

Bounds = tuple[tuple[float, float], tuple[float, float]]  # ((x_min, x_max), (z_min, z_max)), world metres


@dataclass(frozen=True)
class RandomWalkConfig:
    """How a random walk picks its steps.

    persistence: probability of keeping the current intent (a key combo) for one more step, so the
    walk goes somewhere instead of jittering. choices: ``(keys, weight)`` pairs a new intent is
    drawn from.
    """

    persistence: float = 0.85
    choices: tuple[tuple[str, float], ...] = (
        ("W", 6.0),
        ("WQ", 1.5),
        ("WE", 1.5),
        ("Q", 1.0),
        ("E", 1.0),
        ("A", 0.5),
        ("D", 0.5),
        ("S", 0.3),
        (".", 0.2),
    )

    def __post_init__(self) -> None:
        if not (isinstance(self.persistence, int | float) and 0 <= self.persistence < 1):
            raise ValueError(f"RandomWalkConfig.persistence must be in [0, 1), got {self.persistence!r}")
        if not self.choices:
            raise ValueError("RandomWalkConfig.choices must not be empty")
        for keys, weight in self.choices:
            canonical_keys(keys)  # raises on unknown keys
            if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
                raise ValueError(f"RandomWalkConfig: weight of {keys!r} must be finite, > 0; got {weight!r}")


def _inside(pose: torch.Tensor, bounds: Bounds) -> bool:
    (x0, x1), (z0, z1) = bounds
    x, z = float(pose[0, 3]), float(pose[2, 3])
    return x0 <= x <= x1 and z0 <= z <= z1


def _turn_inward(pose: torch.Tensor, bounds: Bounds) -> str:
    """``"E"`` (turn right) if the box centre lies to the camera's right, else ``"Q"``."""
    (x0, x1), (z0, z1) = bounds
    to_centre = torch.tensor([(x0 + x1) / 2 - float(pose[0, 3]), (z0 + z1) / 2 - float(pose[2, 3])])
    right = pose[[0, 2], 0].to(torch.float32)  # camera x axis in the world x/z plane
    return "E" if float(to_centre @ right) > 0 else "Q"


def _check_bounds(bounds: Bounds, start: torch.Tensor) -> Bounds:
    try:
        (x0, x1), (z0, z1) = bounds
        vals = [float(v) for v in (x0, x1, z0, z1)]
    except (TypeError, ValueError) as e:
        raise ValueError(f"bounds must be ((x_min, x_max), (z_min, z_max)), got {bounds!r}") from e
    if not all(math.isfinite(v) for v in vals) or vals[0] >= vals[1] or vals[2] >= vals[3]:
        raise ValueError(f"bounds must be finite with min < max, got {bounds!r}")
    checked = ((vals[0], vals[1]), (vals[2], vals[3]))
    if not _inside(start, checked):
        raise ValueError(f"the start position lies outside bounds {checked}")
    return checked


def random_walk(
    start: torch.Tensor | None,
    n: int,
    cfg: KeyStepConfig | None = None,
    seed: int = 0,
    *,
    mode: Mode = "walk",
    bounds: Bounds | None = None,
    walk: RandomWalkConfig | None = None,
    K: torch.Tensor | None = None,
    name: str = "random_walk",
) -> Trajectory:
    """``n`` seeded key steps (``n + 1`` poses); the same seed gives the same trajectory.

    With ``bounds`` the camera centre never leaves the x/z box: a step that would leave it is
    replaced by a turn toward the box centre, and the walk then heads forward again.
    Actions are the keys actually applied.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    walk = walk or RandomWalkConfig()
    rng = random.Random(seed)
    keys = [canonical_keys(k) for k, _ in walk.choices]
    weights = [float(w) for _, w in walk.choices]
    ctl = PoseController(cfg, start, mode)
    if bounds is not None:
        bounds = _check_bounds(bounds, ctl.pose)
    intent = rng.choices(keys, weights)[0]
    poses, actions = [ctl.pose], []
    for _ in range(n):
        if rng.random() >= walk.persistence:
            intent = rng.choices(keys, weights)[0]
        step = intent
        if bounds is not None and not _inside(ctl.peek(step), bounds):
            step, intent = _turn_inward(ctl.pose, bounds), "W"
        poses.append(ctl.step(step))
        actions.append(step)
    return Trajectory(torch.stack(poses), K, actions, name)
