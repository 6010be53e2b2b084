"""World step speed: steps/s and key-to-frame latency of each backend through the Session API.

Usage: ``python benchmarks/world.py [--steps 200] [--start doom:MAP01]``
Drives each backend with the same scripted keys (walk, turn, look) from a ViZDoom start frame at
160×120 and 320×240 and reports steps/s and the latency of ``session.step`` (median, p95), which
is the key-to-frame latency the player adds before encoding. Prints a Markdown table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from loci.io import atomic_write_text, machine_info
from loci.world.rollout import start_session

KEYS = ("W" * 20 + "Q" * 10 + "WQ" * 5 + "E" * 15 + "R" * 4 + "F" * 4 + "D" * 6 + "S" * 6) * 4


def measure(world: str, start: str, size: tuple[int, int], steps: int) -> dict:
    session = start_session(world, start, size)
    for k in KEYS[:5]:  # warm-up
        session.step(k)
    lat = []
    t0 = time.perf_counter()
    for k in KEYS[5 : 5 + steps]:
        t = time.perf_counter()
        session.step(k)
        lat.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
    return {
        "backend": world,
        "size": f"{size[1]}x{size[0]}",
        "steps_per_s": len(lat) / total,
        "latency_ms_median": float(np.median(lat)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "memory_points": len(session.memory),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--start", default="doom:MAP01")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--out", default="benchmarks/results/world.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [
        measure(world, args.start, size, args.steps)
        for size in ((120, 160), (240, 320))
        for world in ("warp", "copy-last", "engine")
    ]
    info = machine_info()
    print(
        f"start {args.start}, {args.steps} steps; machine: {info['cpu']}, {info['cores']} cores, torch threads {torch.get_num_threads()}"
    )
    print("| backend | size | steps/s | latency median (ms) | latency p95 (ms) | memory points |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['backend']} | {r['size']} | {r['steps_per_s']:.0f} | {r['latency_ms_median']:.1f} | {r['latency_ms_p95']:.1f} | {r['memory_points']} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        args.out, json.dumps({"start": args.start, "machine": info, "rows": rows}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
