"""End-to-end episode generation throughput: frames written to disk per second.

Usage: ``python benchmarks/data_generation.py [--engine vizdoom] [--workers 2] [--episodes 8] [--frames 250]``
Runs ``loci.data.generate`` into a temporary directory (deleted afterwards) at 160×120 and prints
a Markdown table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from loci.data.generate import generate
from loci.io import atomic_write_text, machine_info

LEVELS = {"vizdoom": ["MAP01", "MAP02"], "miniworld": ["OneRoom", "Hallway"], "synthetic": ["room"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="vizdoom")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--policy", default="random_walk")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for workers in args.workers:
        tmp = Path(tempfile.mkdtemp(prefix="loci-bench-"))
        try:
            s = generate(
                args.engine,
                LEVELS[args.engine],
                args.episodes,
                args.frames,
                tmp,
                policy=args.policy,
                workers=workers,
                engine_overrides={"size": (120, 160)},
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append(
            {
                "workers": workers,
                "frames": s["frames_written"],
                "seconds": s["seconds"],
                "frames_per_s": s["frames_per_s"],
            }
        )
    info = machine_info()
    print(f"{args.engine} at 160x120, policy {args.policy}; machine: {info['cpu']}, {info['cores']} cores")
    print("| workers | frames | seconds | frames/s |")
    print("| ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['workers']} | {r['frames']} | {r['seconds']:.1f} | {r['frames_per_s']:.0f} |")
    out = Path(args.out or f"benchmarks/results/data_generation_{args.engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out, json.dumps({"engine": args.engine, "machine": info, "rows": rows}, indent=2) + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
