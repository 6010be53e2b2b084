"""Generate episode datasets from an engine with scripted policies, in parallel worker processes.

Each worker builds one engine and writes whole episodes (atomically, see :mod:`.episode`). The
parent shows a progress bar in frames. Episode ``i`` uses level ``levels[i % len(levels)]`` and
seed ``seed + i``, so a dataset is reproducible from its command line.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from loci.engines import (
    POLICIES,
    Engine,
    EpisodeEnded,
    engine_classes,
    engine_config_dict,
    make_engine,
    make_policy,
)

from .episode import EpisodeMeta, EpisodeWriter
from .splits import split_of

MIX = "mix"


@dataclass(frozen=True)
class EpisodeJob:
    """One episode to generate."""

    engine: str
    level: str
    seed: int
    policy: str
    frames: int


def plan_jobs(
    engine: str, levels: Sequence[str], episodes: int, frames: int, policy: str, seed: int
) -> list[EpisodeJob]:
    """The episode list: levels round-robin, seeds ``seed + i``, ``policy`` or all policies in turn (``mix``)."""
    if episodes < 1 or frames < 2:
        raise ValueError("need at least 1 episode of at least 2 frames")
    if policy != MIX and policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; valid: {', '.join([*POLICIES, MIX])}")
    names = list(POLICIES) if policy == MIX else [policy]
    return [
        EpisodeJob(engine, levels[i % len(levels)], seed + i, names[i % len(names)], frames)
        for i in range(episodes)
    ]


def run_episode(engine: Engine, job: EpisodeJob, out: Path) -> Path:
    """Play one episode of ``job`` on ``engine`` and write it under ``out``."""
    obs = engine.reset(job.level, job.seed)
    meta = EpisodeMeta(
        engine=job.engine,
        level=job.level,
        seed=job.seed,
        policy=job.policy,
        split=split_of(job.engine, job.level, job.seed),
        frames=job.frames,
        size=obs.size,
        engine_config=engine_config_dict(engine),
    )
    policy = make_policy(job.policy, job.seed)
    policy.reset(obs, job.frames)
    writer = EpisodeWriter(out, meta)
    writer.append(obs)
    for _ in range(job.frames - 1):
        try:
            obs = engine.step(policy.act(obs))
        except EpisodeEnded:  # died or left the level: keep what was recorded
            return writer.close(ended_early=True)
        writer.append(obs)
    return writer.close()


_ENGINE: Engine | None = None


def _worker_init(engine: str, overrides: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker: 2 OpenMP threads per process stall on 2 cores
    global _ENGINE
    _ENGINE = make_engine(engine, **overrides)


def _worker_run(job: EpisodeJob, out: str) -> tuple[str, int]:
    assert _ENGINE is not None
    path = run_episode(_ENGINE, job, Path(out))
    return str(path), job.frames


def check_output_dir(out: Path) -> None:
    """Create ``out`` if needed and make sure it is writable; clear stale temporary episodes."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create output directory {out}: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise PermissionError(f"output directory {out} is not writable")
    for stale in out.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def generate(
    engine: str,
    levels: Sequence[str],
    episodes: int,
    frames: int,
    out: str | os.PathLike,
    policy: str = "random_walk",
    seed: int = 0,
    workers: int = 1,
    engine_overrides: dict[str, Any] | None = None,
    progress: bool = True,
    on_episode: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate ``episodes`` episodes of ``frames`` frames; returns a summary (paths, frames/s).

    Episodes that already exist are skipped (a re-run resumes). Errors in a worker stop the run.
    """
    overrides = dict(engine_overrides or {})
    engine_classes(engine)  # unknown engine / missing module: fail before any work
    jobs = plan_jobs(engine, levels, episodes, frames, policy, seed)
    out = Path(out)
    check_output_dir(out)
    start = time.perf_counter()
    done: list[str] = []
    todo = []
    for job in jobs:
        name = EpisodeMeta(job.engine, job.level, job.seed, job.policy, "", job.frames, (0, 0)).name
        if (out / name).exists():
            done.append(str(out / name))
        else:
            todo.append(job)
    bar = tqdm(total=len(todo) * frames, unit="frame", desc=f"{engine} episodes", disable=not progress)
    if workers <= 1:
        _worker_init(engine, overrides)
        try:
            for job in todo:
                path, n = _worker_run(job, str(out))
                done.append(path)
                bar.update(n)
                if on_episode:
                    on_episode(path)
        finally:
            if _ENGINE is not None:
                _ENGINE.close()
    else:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_worker_init, initargs=(engine, overrides)
        ) as pool:
            pending = {pool.submit(_worker_run, job, str(out)) for job in todo}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        path, n = fut.result()
                        done.append(path)
                        bar.update(n)
                        if on_episode:
                            on_episode(path)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    bar.close()
    elapsed = time.perf_counter() - start
    written = len(todo) * frames
    return {
        "episodes": sorted(done),
        "frames_written": written,
        "seconds": elapsed,
        "frames_per_s": written / elapsed if elapsed > 0 else 0.0,
    }
