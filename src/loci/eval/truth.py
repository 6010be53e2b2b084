"""Recording the engine's ground truth for a benchmark case (RGB, depth, poses in the case's frame, keys)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from loci.engines import Engine, EpisodeEnded, Observation, make_policy
from loci.engines.explore import free_depth

from .suite import Case


@dataclass(frozen=True, eq=False)
class Truth:
    """``rgb (T, H, W, 3)`` uint8, ``depth (T, H, W)`` float32 m, ``poses (T, 4, 4)`` camera-to-world
    rebased on frame 0, ``K (T, 3, 3)``, ``keys``: ``T - 1`` actions (``keys[t]`` leads to frame t+1)."""

    case: Case
    rgb: np.ndarray
    depth: np.ndarray
    poses: np.ndarray
    K: np.ndarray
    keys: list[str]
    prelude: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rgb)


def face_open_space(engine: Engine, obs: Observation, max_turns: int = 72) -> tuple[Observation, list[str]]:
    """Turn in place (E steps) for a full circle, then back to the heading with the most free depth ahead.

    Random starts often face a wall; scripted scenarios (walk straight, pan) need room ahead.
    Returns the new observation and the keys it took.
    """
    start_yaw = _yaw(obs.pose)
    best, best_free, turns = obs, free_depth(obs)[1], 0
    while turns < max_turns:
        obs = engine.step("E")
        turns += 1
        if free_depth(obs)[1] > best_free:
            best, best_free = obs, free_depth(obs)[1]
        if turns > 2 and abs(_wrap(_yaw(obs.pose) - start_yaw)) < math.radians(6):
            break
    target = _yaw(best.pose)
    for _ in range(max_turns):
        if abs(_wrap(_yaw(obs.pose) - target)) < math.radians(6):
            break
        obs = engine.step("E")
        turns += 1
    return obs, ["E"] * turns


def _yaw(pose: np.ndarray) -> float:
    """Heading angle of the camera's forward axis projected on the plane orthogonal to its y axis."""
    fwd, down = pose[:3, 2], pose[:3, 1]
    ref = np.array([1.0, 0.0, 0.0]) if abs(down[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    e1 = ref - down * (ref @ down)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(down, e1)
    return math.atan2(float(fwd @ e2), float(fwd @ e1))


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def record_truth(engine: Engine, case: Case, face_open: bool | None = None, progress: bool = False) -> Truth:
    """Play ``case`` on ``engine`` and record every frame (shorter if the engine ends the episode).

    ``face_open``: first turn to face open space (not recorded); by default only scripted-key
    scenarios do. ``progress``: a progress bar over the frames."""
    obs = engine.reset(case.level, case.seed)
    prelude: list[str] = []
    if case.scenario.keys is not None if face_open is None else face_open:
        obs, prelude = face_open_space(engine, obs)
    sc = case.scenario
    policy = make_policy(sc.policy, case.seed) if sc.policy else None
    if policy:
        policy.reset(obs, sc.frames)
    frames, keys = [obs], []
    for t in tqdm(range(sc.frames - 1), desc="truth", unit="frame", leave=False, disable=not progress):
        key = policy.act(obs) if policy else sc.keys[t % len(sc.keys)]
        try:
            obs = engine.step(key)
        except EpisodeEnded:
            break
        frames.append(obs)
        keys.append(obs.action)
    origin = np.linalg.inv(frames[0].pose.astype(np.float64))
    return Truth(
        case,
        np.stack([f.rgb for f in frames]),
        np.stack([f.depth for f in frames]),
        np.stack([(origin @ f.pose.astype(np.float64)).astype(np.float32) for f in frames]),
        np.stack([f.K for f in frames]),
        keys,
        tuple(prelude),
    )
