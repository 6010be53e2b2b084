"""Dev walks: the long-rollout scores on training-split levels, for choosing models without the test split.

`loci bench` and benchmarks/long_rollout.py score held-out levels only; tuning against them would
make their numbers a lie. This benchmark walks *training* levels (ViZDoom MAP01–MAP24, MiniWorld's
training layouts) from seeds no dataset command uses (500000 and up; datasets start at 0, their
validation sets at 900000), so a model can be chosen here and reported there. Each walk is recorded
once, every backend free-runs along its true poses, and each horizon bucket gets PSNR, SSIM and the
sharpness ratio; the table prints the mean over the walks, and the JSON keeps every walk.

    python benchmarks/dev_walks.py --backends warp,loci,student --frames 257
    python benchmarks/dev_walks.py --student-checkpoint outputs/student_doom_miniworld/student.safetensors
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from loci.data.splits import split_of
from loci.engines import make_engine
from loci.eval.long_rollout import (
    Rollout,
    checkpoint_info,
    free_run,
    long_buckets,
    record_walk,
    score_rollout,
)
from loci.eval.suite import Case, Scenario
from loci.io import atomic_write_text, machine_info
from loci.world import DitConfig

WALKS = (  # (engine, level, seed): training levels, seeds outside every dataset command
    ("vizdoom", "MAP03", 500_001),
    ("vizdoom", "MAP11", 500_002),
    ("vizdoom", "MAP19", 500_003),
    ("miniworld", "ThreeRooms", 500_004),
    ("miniworld", "TMaze", 500_005),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--backends", default="copy-last,warp,loci,student", help="names; student@N, teacher@N: at N steps"
    )
    ap.add_argument("--frames", type=int, default=257, help="frames per walk, start frame included")
    ap.add_argument("--policy", default="random_walk")
    ap.add_argument("--engines", default="vizdoom,miniworld")
    ap.add_argument("--walks", type=int, default=None, help="only the first N walks of each engine")
    ap.add_argument("--student-checkpoint", default=None, help="the student backend's weights")
    ap.add_argument("--world-checkpoint", default=None, help="the loci/dit backends' weights")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/dev_walks.json"))
    return ap.parse_args(argv)


def run_backend(spec: str, truth, args: argparse.Namespace) -> Rollout:
    """Free-run ``spec`` (a backend name, or ``student@N`` / ``teacher@N`` at N denoising steps) along
    ``truth``; the student and the other learned worlds load their own weights."""
    backend, _, steps = spec.partition("@")
    path = args.student_checkpoint if backend == "student" else args.world_checkpoint
    learned: dict = {"world_checkpoint": path} if path else {}
    if steps:
        if backend not in ("student", "teacher") or not steps.isdigit() or int(steps) < 1:
            raise ValueError(f"{spec!r}: only the student and the teacher take @N, N >= 1 denoising steps")
        learned["dit"] = DitConfig(**{f"{backend}_steps": int(steps)})
    return dataclasses.replace(free_run(backend, truth, learned), backend=spec)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    engines = {e.strip() for e in args.engines.split(",")}
    start, walks = time.perf_counter(), []
    chosen = [w for e in sorted(engines) for w in [w for w in WALKS if w[0] == e][: args.walks]]
    for engine_name, level, seed in chosen:
        if split_of(engine_name, level, seed) != "train":
            raise ValueError(f"dev walk {engine_name} {level} seed {seed} is in the test split")
        engine = make_engine(engine_name)
        try:
            case = Case(engine_name, level, seed, Scenario(args.policy, args.frames, policy=args.policy))
            truth = record_walk(engine, case)
        finally:
            engine.close()
        buckets = long_buckets(len(truth))
        rows = [score_rollout(truth, run_backend(b, truth, args), buckets) for b in backends]
        for r in rows:
            r.pop("per_frame", None)
        walks.append(
            {"engine": engine_name, "level": level, "seed": seed, "frames": len(truth), "rows": rows}
        )
    results = {
        "command": "python benchmarks/dev_walks.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(),
        "policy": args.policy,
        "checkpoints": {
            "student": checkpoint_info(args.student_checkpoint),
            "world": checkpoint_info(args.world_checkpoint),
        },
        "seconds": time.perf_counter() - start,
        "walks": walks,
    }
    print(markdown_table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(results, indent=1, default=float) + "\n")
    print(f"wrote {args.json}")
    return 0


def _fmt(v: float, digits: int) -> str:
    return "–" if not math.isfinite(v) else f"{v:.{digits}f}"


def markdown_table(results: dict) -> str:
    """Per engine: backend × horizon, means over that engine's walks (a walk shorter than a bucket
    leaves it out)."""
    lines = []
    for engine in sorted({w["engine"] for w in results["walks"]}):
        ws = [w for w in results["walks"] if w["engine"] == engine]
        names = ", ".join(f"{w['level']} s{w['seed']}" for w in ws)
        lines += [
            f"### {engine}: {len(ws)} dev walks ({names})",
            "",
            "| backend | frames | PSNR | SSIM | sharpness | steps/s |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for name in [r["backend"] for r in ws[0]["rows"]]:
            per = [r for w in ws for r in w["rows"] if r["backend"] == name]
            if any("error" in r for r in per):
                lines.append(f"| {name} | not run: {next(r['error'] for r in per if 'error' in r)} |")
                continue
            horizons = dict.fromkeys(b["horizon"] for r in per for b in r["buckets"])
            for h in horizons:
                bs = [b for r in per for b in r["buckets"] if b["horizon"] == h]

                def mean(key: str, bs=bs) -> float:
                    v = np.array([b[key] for b in bs], dtype=np.float64)
                    v = v[np.isfinite(v)]
                    return float(v.mean()) if len(v) else float("nan")

                lines.append(
                    f"| {name} | {h} | {_fmt(mean('psnr'), 2)} | {_fmt(mean('ssim'), 3)} | "
                    f"{_fmt(mean('sharpness'), 2)} | {_fmt(mean('steps_per_s'), 1)} |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
