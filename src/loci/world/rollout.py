"""Rollouts: drive a session with a key string or a trajectory, and write MP4 + poses JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from loci.control import Trajectory
from loci.io import Mp4Writer, atomic_write_text, colorize_depth, hstack_panels

from .actions import Action
from .backends import backend_spec
from .frame import Frame
from .session import Session
from .world import World, WorldConfig

ENGINE_ALIASES = {"doom": "vizdoom", "vizdoom": "vizdoom", "miniworld": "miniworld", "synthetic": "synthetic"}


def parse_start(spec: str) -> tuple[str, str, int]:
    """``"doom:MAP01"`` or ``"miniworld:OneRoom:7"`` -> ``(engine, level, seed)`` (seed defaults to 0)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ENGINE_ALIASES:
        raise ValueError(
            f"start must look like doom:MAP01[:seed], miniworld:OneRoom[:seed] or synthetic:room, got {spec!r}"
        )
    try:
        seed = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise ValueError(f"seed in {spec!r} must be an integer") from None
    return ENGINE_ALIASES[parts[0]], parts[1], seed


def start_session(
    world: str, start: str, size: tuple[int, int] = (120, 160), learned: dict | None = None
) -> Session:
    """A session of backend ``world`` started from an engine spec (see :func:`parse_start`);
    ``learned``: WorldConfig fields of a learned backend (checkpoint paths)."""
    from loci.engines import make_engine

    engine_name, level, seed = parse_start(start)
    engine = make_engine(engine_name, size=size)
    return World(WorldConfig(backend=world, **(learned or {}))).start_from_engine(engine, level, seed)


def session_factory(
    world: str, start: str, size: tuple[int, int] = (120, 160), learned: dict | None = None
) -> Callable[[], Session]:
    """A cheap factory of fresh sessions on the same start (the player makes one per connection).

    Worlds that start from an image reuse the engine's first frame (read once); one that starts
    only from an engine (the engine backend) gets a new engine per session, so sessions never
    share state.
    """
    from loci.engines import make_engine

    engine_name, level, seed = parse_start(start)
    if not backend_spec(world).starts_from_image:
        return lambda: start_session(world, start, size, learned)
    engine = make_engine(engine_name, size=size)
    first = engine.reset(level, seed)
    engine.close()
    cfg = WorldConfig(backend=world, **(learned or {}))
    source = {"kind": "engine", "engine": engine_name, "level": level, "seed": seed}

    shared = World(cfg)  # one World: a learned backend loads its weights once for all sessions

    def make() -> Session:
        session = shared.start(first.rgb, first.depth, first.K, engine=engine_name)
        session.source = session.source | source  # keeps what the start measured (light_strength)
        return session

    return make


def key_actions(keys: str) -> list[str]:
    """One step per character of ``keys`` (``"WWQ."``); raises ``ValueError`` on an unknown key."""
    from loci.control import canonical_keys

    return [canonical_keys(k) for k in keys if not k.isspace()]


def trajectory_actions(traj: Trajectory) -> list[np.ndarray]:
    """Target poses ``(4, 4)`` of a trajectory, rebased so that it starts at the session's start."""
    poses = traj.poses.double().numpy()
    base = np.linalg.inv(poses[0])
    return [base @ p for p in poses[1:]]


def run(session: Session, actions: Iterable[Action], progress: bool = True) -> Iterator[Frame]:
    """Yield the start frame, then one frame per action."""
    actions = list(actions)
    yield session.frame
    for action in tqdm(actions, desc="rollout", unit="step", disable=not progress):
        yield session.step(action)


def write_rollout(
    session: Session, actions: Iterable[Action], out: str | os.PathLike, fps: float = 15.0
) -> Path:
    """Play ``actions`` and write ``out`` (MP4: RGB | depth | map) and ``out`` with ``.json`` (poses, actions, timings)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    h = session.frame.size[0]
    with Mp4Writer(out, fps) as video:
        for frame in run(session, actions):
            video.write(hstack_panels(frame.rgb, colorize_depth(frame.depth), session.top_down(h)))
            records.append(
                {
                    "index": frame.index,
                    "action": frame.action,
                    "pose": frame.pose.tolist(),
                    "timings": frame.timings,
                }
            )
    summary = {"source": session.source, "backend": session.backend.name, "frames": records}
    atomic_write_text(out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    return out
