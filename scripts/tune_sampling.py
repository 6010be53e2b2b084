"""Choose the learned world's sampling settings on *training* levels (never the benchmark's test levels).

Usage: ``python scripts/tune_sampling.py --world-checkpoint PATH [--levels MAP05,MAP12] [--threads 1]``
Runs ``copy-last``, ``warp`` and ``loci`` with each variant of :class:`loci.world.dit_backend.DitConfig`
below on the ``turns`` and ``random_walk`` scenarios of the benchmark, from training-split ViZDoom
starts, and prints teacher-forced and free-running PSNR per variant; writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from loci.eval.bench import BenchConfig, run_bench
from loci.eval.suite import Case, scenarios
from loci.io import atomic_write_text, machine_info
from loci.world.dit_backend import DitConfig

VARIANTS: dict[str, dict] = {
    "condition only, 2 steps": {"anchor": None, "composite": False},
    "anchor, 2 steps": {"composite": False},
    "anchor + composite, 1 step": {"steps": 1},
    "anchor + composite, 2 steps": {},
    "anchor + composite, 4 steps": {"steps": 4},
    "points memory, anchor + composite, 2 steps": {"memory": "points"},
}
METRICS = ("tf_psnr", "psnr@16", "psnr@64", "ssim@16", "steps_per_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world-checkpoint", default=None)
    ap.add_argument("--levels", default="MAP05,MAP12")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="outputs/tune_sampling.json")
    ap.add_argument("--no-baselines", dest="baselines", action="store_false", help="loci variants only")
    ap.add_argument("--variants", default=None, help="comma-separated variant names (default: all)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    picked = [s for s in scenarios(4) if s.name in ("turns", "random_walk")]
    cases = [Case("vizdoom", level, 7, s) for level in args.levels.split(",") for s in picked]
    runs = {"copy-last": ("copy-last", None), "warp": ("warp", None)} if args.baselines else {}
    chosen = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    runs |= {f"loci: {name}": ("loci", DitConfig(**VARIANTS[name])) for name in chosen}
    table = {}
    for label, (backend, dit) in runs.items():
        learned = {"world_checkpoint": args.world_checkpoint} | ({"dit": dit} if dit else {})
        cfg = BenchConfig(
            quick=True,
            backends=(backend,),
            engines=("vizdoom",),
            modes=("rgbd",),
            out=Path("outputs/tune_sampling"),
            markdown=None,
            videos=0,
            learned=learned,
        )
        rows = run_bench(cfg, cases)["rows"]
        table[label] = {m: float(np.mean([r[m] for r in rows if r.get(m) is not None])) for m in METRICS}
    print(f"levels {args.levels} (training split), scenarios turns + random_walk; {machine_info()['cpu']}")
    print("| run | TF PSNR | PSNR@16 | PSNR@64 | SSIM@16 | steps/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, m in table.items():
        print(
            f"| {label} | {m['tf_psnr']:.2f} | {m['psnr@16']:.2f} | {m['psnr@64']:.2f} | {m['ssim@16']:.3f} | {m['steps_per_s']:.1f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "levels": args.levels,
        "checkpoint": args.world_checkpoint,
        "machine": machine_info(),
        "table": table,
    }
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
