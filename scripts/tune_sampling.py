"""Choose the learned world's sampling settings on *training* levels (never the benchmark's test levels).

Usage: ``python scripts/tune_sampling.py [--world-checkpoint PATH] [--tokenizer PATH] [--levels MAP05,MAP12]
[--threads 1] [--variants "NAME;..."] [--scenarios turns,random_walk] [--scale 4] [--no-baselines] [--light none]
[--light-strength 1]``
Runs ``engine`` (its own frames: the oracle of the camera metrics), ``copy-last``, ``warp`` and ``loci`` with each variant of :class:`loci.world.DitConfig`
below on scenarios of the benchmark (default ``turns`` and ``random_walk``, a quarter of the full
suite's lengths unless ``--scale`` says otherwise), from training-split
ViZDoom (or, with ``--engine miniworld``, MiniWorld) starts, and prints teacher-forced and free-running PSNR / SSIM and Trajectory Accuracy per variant; writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from loci.data.splits import split_of
from loci.engines import make_engine
from loci.eval.bench import BenchConfig, run_bench
from loci.eval.long_rollout import free_run, long_buckets, record_walk, score_rollout
from loci.eval.suite import Case, Scenario, scenarios
from loci.io import atomic_write_text, machine_info
from loci.world import DitConfig

OLD = {"hole_blend": 1.0}  # variants from before the disocclusion mix keep the generator's pixels alone
VARIANTS: dict[str, dict] = {
    "condition only, 2 steps": {**OLD, "anchor": None, "composite": False, "start_from_fill": None},
    "anchor, 2 steps": {**OLD, "composite": False, "start_from_fill": None},
    "anchor + composite, 1 step": {**OLD, "steps": 1, "start_from_fill": None},
    "anchor + composite, 2 steps": {**OLD, "start_from_fill": None},
    "anchor + composite, 2 steps, generated hole depth": {
        **OLD,
        "hole_depth": "generated",
        "start_from_fill": None,
    },
    "anchor + composite, 4 steps": {**OLD, "steps": 4, "start_from_fill": None},
    "points memory, anchor + composite, 2 steps": {**OLD, "memory": "points", "start_from_fill": None},
    "anchor + composite, start from fill at 0.75": {**OLD, "start_from_fill": 0.75},
    "anchor + composite, start from fill at 0.5": {**OLD, "start_from_fill": 0.5},
    "anchor + composite, start from fill at 0.3": {**OLD, "start_from_fill": 0.3},
    "anchor + composite, start from fill at 0.15": {**OLD, "start_from_fill": 0.15},
    "start from fill at 0.3, hole blend 0.75": {"start_from_fill": 0.3, "hole_blend": 0.75},
    "start from fill at 0.3, hole blend 0.5": {"start_from_fill": 0.3, "hole_blend": 0.5},
    "start from fill at 0.3, hole blend 0.25": {"start_from_fill": 0.3, "hole_blend": 0.25},
    "hole blend 0.75, remember 0.5": {"start_from_fill": 0.3, "hole_blend": 0.75, "remember_blend": 0.5},
    "hole blend 0.75, remember 0.25": {"start_from_fill": 0.3, "hole_blend": 0.75, "remember_blend": 0.25},
    "hole blend 0.75, ramp 4": {"start_from_fill": 0.3, "hole_blend": 0.75, "hole_ramp": 4},  # Doom's default
    "hole blend 0.75, ramp 8": {"start_from_fill": 0.3, "hole_blend": 0.75, "hole_ramp": 8},
    "hole blend 0.75, ramp 16": {"start_from_fill": 0.3, "hole_blend": 0.75, "hole_ramp": 16},
    "hole blend 0.5, ramp 4": {"start_from_fill": 0.3, "hole_blend": 0.5, "hole_ramp": 4},
    "hole blend 0.5, ramp 8": {"start_from_fill": 0.3, "hole_blend": 0.5, "hole_ramp": 8},
    "hole blend 0.5, ramp 12": {"start_from_fill": 0.3, "hole_blend": 0.5, "hole_ramp": 12},
    "anchor on fill, hole blend 0.5": {"start_from_fill": 0.3, "hole_blend": 0.5, "anchor_from": "fill"},
    "anchor on fill, hole blend 0.6": {"start_from_fill": 0.3, "hole_blend": 0.6, "anchor_from": "fill"},
    "anchor on fill, hole blend 0.65": {"start_from_fill": 0.3, "hole_blend": 0.65, "anchor_from": "fill"},
    "anchor on fill, hole blend 0.75": {"start_from_fill": 0.3, "hole_blend": 0.75, "anchor_from": "fill"},
    "anchor on fill, hole blend 1.0": {"start_from_fill": 0.3, "hole_blend": 1.0, "anchor_from": "fill"},
    "anchor on fill, hole blend 0.75, ramp 4": {
        "start_from_fill": 0.3,
        "hole_blend": 0.75,
        "hole_ramp": 4,
        "anchor_from": "fill",
    },
    "hole blend 1.0, ramp 8": {"start_from_fill": 0.3, "hole_blend": 1.0, "hole_ramp": 8},
    "hole blend 1.0, ramp 16": {"start_from_fill": 0.3, "hole_blend": 1.0, "hole_ramp": 16},
}
METRICS = (
    "tf_psnr",
    "psnr@16",
    "psnr@64",
    "ssim@16",
    "ssim@64",
    "trajectory_accuracy",
    "trajectory_accurate",
    "steps_per_s",
)


def learned_fields(args: argparse.Namespace) -> dict:
    """WorldConfig fields of the learned runs: checkpoints and the light falloff setting."""
    strength = None if args.light_strength == "none" else float(args.light_strength)
    return {
        "world_checkpoint": args.world_checkpoint,
        "tokenizer_checkpoint": args.tokenizer,
        "light": args.light,
        "light_strength": strength,
    }


def long_walk(level: str, frames: int, runs: dict, args: argparse.Namespace) -> dict:
    """Each run free along one ``detour_revisit`` walk of ``frames`` frames on a training level: PSNR
    by horizon bucket and revisit PSNR (what a short case cannot show: a memory that decays)."""
    engine = make_engine(args.engine)
    try:
        case = Case(args.engine, level, 7, Scenario("detour_revisit", frames, policy="detour_revisit"))
        truth = record_walk(engine, case)
    finally:
        engine.close()
    buckets = long_buckets(len(truth))
    out = {}
    for label, (backend, dit) in runs.items():
        learned = learned_fields(args)
        row = score_rollout(truth, free_run(backend, truth, learned | ({"dit": dit} if dit else {})), buckets)
        out[label] = {b["horizon"]: b["psnr"] for b in row["buckets"]} | {
            "revisit": row.get("revisit_psnr_truth")
        }
    print(f"\n{level} seed 7, detour_revisit, {len(truth)} frames: PSNR by frames, revisit PSNR vs truth")
    print("| run | " + " | ".join(label for label, _, _ in buckets) + " | revisit |")
    print("| --- |" + " ---: |" * (len(buckets) + 1))
    for label, row in out.items():
        cells = [f"{row[b]:.2f}" for b, _, _ in buckets] + [f"{row['revisit'] or float('nan'):.2f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world-checkpoint", default=None)
    ap.add_argument("--tokenizer", default=None, help="tokenizer checkpoint (default: the shipped one)")
    ap.add_argument("--engine", default="vizdoom", choices=("vizdoom", "miniworld"))
    ap.add_argument("--levels", default="MAP05,MAP12", help="training-split levels of --engine")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="outputs/tune_sampling.json")
    ap.add_argument("--no-baselines", dest="baselines", action="store_false", help="loci variants only")
    ap.add_argument(
        "--walk", type=int, default=0, help="also a detour_revisit walk of this many frames (first level)"
    )
    ap.add_argument(
        "--variants",
        default=None,
        help="variant names separated by ; (default: all; '' for the baselines alone)",
    )
    ap.add_argument(
        "--light", default="auto", help="WorldConfig.light of the loci runs: auto, none or a path"
    )
    ap.add_argument(
        "--light-strength",
        default="0.5",
        help="WorldConfig.light_strength of the loci runs (a number or none)",
    )
    ap.add_argument("--scenarios", default="turns,random_walk", help="benchmark scenarios, comma-separated")
    ap.add_argument(
        "--scale", type=int, default=4, help="scenario lengths divided by this (1: the full suite's lengths)"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.scenarios.split(",")
    if args.scale < 1:
        raise SystemExit(f"--scale must be >= 1, got {args.scale}")
    picked = [s for s in scenarios(args.scale) if s.name in names]
    if len(picked) != len(names):
        raise SystemExit(f"unknown scenarios in {names}; choose from {[s.name for s in scenarios(1)]}")
    cases = [Case(args.engine, level, 7, s) for level in args.levels.split(",") for s in picked]
    held_out = sorted({c.level for c in cases if split_of(c.engine, c.level, c.seed) != "train"})
    if held_out:
        raise SystemExit(f"{held_out} are held-out {args.engine} levels: tune on training levels only")
    # the engine's own frames through the same estimators: the TA an exact world gets on these cases
    baselines = {"engine": ("engine", None), "copy-last": ("copy-last", None), "warp": ("warp", None)}
    runs = baselines if args.baselines else {}
    chosen = [v for v in args.variants.split(";") if v] if args.variants is not None else list(VARIANTS)
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    # a variant without a ramp has none and anchors on the memory's latents (not the engine's tuned
    # values), as when it was first measured
    pinned = {"hole_ramp": 0.0, "anchor_from": "memory"}
    runs |= {f"loci: {name}": ("loci", DitConfig(**pinned | VARIANTS[name])) for name in chosen}
    table, per_case = {}, {}
    for label, (backend, dit) in runs.items():
        learned = learned_fields(args)
        learned |= {"dit": dit} if dit else {}
        cfg = BenchConfig(
            quick=True,
            backends=(backend,),
            engines=(args.engine,),
            modes=("rgbd",),
            out=Path("outputs/tune_sampling"),
            markdown=None,
            videos=0,
            learned=learned,
        )
        rows = run_bench(cfg, cases)["rows"]
        table[label] = {m: float(np.mean([r[m] for r in rows if r.get(m) is not None])) for m in METRICS}
        per_case[label] = [
            {"level": r["level"], "scenario": r["scenario"]} | {m: r.get(m) for m in METRICS} for r in rows
        ]
    print(
        f"{args.engine} levels {args.levels} (training split), scenarios {args.scenarios}; {machine_info()['cpu']}"
    )
    print("| run | TF PSNR | PSNR@16 | PSNR@64 | SSIM@16 | SSIM@64 | TA score | TA | steps/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, m in table.items():
        print(
            f"| {label} | {m['tf_psnr']:.2f} | {m['psnr@16']:.2f} | {m['psnr@64']:.2f} | {m['ssim@16']:.3f}"
            f" | {m['ssim@64']:.3f} | {m['trajectory_accuracy']:.3f} | {m['trajectory_accurate']:.2f}"
            f" | {m['steps_per_s']:.1f} |"
        )
    walk = long_walk(args.levels.split(",")[0], args.walk, runs, args) if args.walk else None
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "walk": walk,
        "engine": args.engine,
        "levels": args.levels,
        "scenarios": args.scenarios,
        "scale": args.scale,
        "checkpoint": args.world_checkpoint,
        "tokenizer": args.tokenizer,
        "light": args.light,
        "light_strength": args.light_strength,
        "machine": machine_info(),
        "table": table,
        "cases": per_case,  # the runs behind each mean (a horizon a case is too short for: None)
    }
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
