"""``loci bench``: every backend through the Session API on the fixed suite, scored against the engines.

Baselines run in the same process and the same cases: ``engine`` (the oracle: its metrics must
be perfect), ``copy-last`` and ``warp``; learned backends join them by name.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from loci.engines import make_engine
from loci.world import BACKENDS

from .report import write_report
from .runner import Prediction, run_backend
from .score import score_case
from .suite import Case, build_suite
from .truth import Truth, record_truth

BASELINES = ("engine", "copy-last", "warp")


@dataclass(frozen=True)
class BenchConfig:
    """quick: the short suite (minutes on 2 cores). backends, engines, modes: what to run.
    out: directory for JSON, plots and videos. markdown: where the Markdown table goes. videos:
    side-by-side MP4s for this many cases."""

    quick: bool = False
    backends: tuple[str, ...] = BASELINES
    engines: tuple[str, ...] = ("vizdoom", "miniworld")
    modes: tuple[str, ...] = ("rgbd", "rgb")
    out: Path = Path("outputs/bench")
    markdown: Path | None = Path("BENCHMARKS.md")
    videos: int = 3
    command: str = "loci bench"
    learned: dict = field(default_factory=dict)  # WorldConfig fields for learned backends (checkpoints)

    def __post_init__(self) -> None:
        """Refuse unknown names before anything runs (a typo must not cost a suite's minutes)."""
        for what, given, valid in (
            ("backend", self.backends, BACKENDS),
            ("engine", self.engines, ("vizdoom", "miniworld", "synthetic")),
            ("mode", self.modes, ("rgbd", "rgb")),
        ):
            if not given:
                raise ValueError(f"no {what}s to run; valid: {', '.join(valid)}")
            unknown = [g for g in given if g not in valid]
            if unknown:
                raise ValueError(
                    f"unknown {what}(s) {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}"
                )
            if len(set(given)) != len(given):
                raise ValueError(f"{what}s named twice: {', '.join(given)}")
        if self.videos < 0:
            raise ValueError(f"videos must be >= 0, got {self.videos}")


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(cfg: BenchConfig, cases: Sequence[Case] | None = None) -> dict:
    """Run the suite; returns the results dict that :func:`write_report` writes."""
    torch.manual_seed(0)
    cases = list(cases) if cases is not None else build_suite(cfg.quick, cfg.engines)
    rows: list[dict] = []
    kept: list[tuple[Truth, dict[str, Prediction]]] = []
    start = time.perf_counter()
    engines = {}
    bar = tqdm(total=len(cases) * len(cfg.backends) * len(cfg.modes), desc="loci bench", unit="run")
    for case in cases:
        if case.engine not in engines:
            engines[case.engine] = make_engine(case.engine)
        engine = engines[case.engine]
        truth = record_truth(engine, case)
        preds: dict[str, Prediction] = {}
        for backend in cfg.backends:
            for mode in cfg.modes:
                pred = run_backend(backend, truth, mode, engine, cfg.learned)
                bar.update()
                row = {
                    "engine": case.engine,
                    "level": case.level,
                    "seed": case.seed,
                    "scenario": case.scenario.name,
                    "backend": backend,
                    "mode": mode,
                }
                row |= score_case(truth, pred)
                row["peak_rss_mb"] = peak_rss_mb()
                rows.append(row)
                if mode == "rgbd":
                    preds[backend] = pred
        if len(kept) < cfg.videos:
            kept.append((truth, preds))
    bar.close()
    for engine in engines.values():
        engine.close()
    results = {
        "config": {
            "quick": cfg.quick,
            "backends": list(cfg.backends),
            "engines": list(cfg.engines),
            "modes": list(cfg.modes),
        },
        "command": cfg.command,
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    write_report(results, kept, cfg.out, cfg.markdown)
    return results


def summarize(rows: list[dict], keys: Sequence[str], metric: str) -> dict[tuple, float]:
    """Mean of ``metric`` grouped by ``keys`` (NaN-aware)."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if "error" in r:
            continue
        v = r.get(metric)
        if v is None or not np.isfinite(v):
            continue
        groups.setdefault(tuple(r[k] for k in keys), []).append(float(v))
    return {k: float(np.mean(v)) for k, v in groups.items()}
