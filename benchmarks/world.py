"""World step speed: steps/s and key-to-frame latency of each backend through the Session API.

Usage: ``python benchmarks/world.py [--steps 200] [--start doom:MAP01] [--backends warp,loci]``
Drives each backend with the same scripted keys (walk, turn, look) from a ViZDoom start frame at
160×120 and 320×240 (the learned ``loci``/``dit`` worlds at 160×120, the size they were trained at)
and reports steps/s, the latency of ``session.step`` (median, p95), which is the key-to-frame latency
the player adds before encoding, the median of each stage a backend times, and the share of the
frame's pixels backed by the memory or an observation (``Frame.coverage``; the rest the backend
made up: generated or inpainted). Prints a Markdown table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from loci.io import atomic_write_text, machine_info
from loci.world import DitConfig, backend_spec
from loci.world.rollout import start_session

KEYS = ("W" * 20 + "Q" * 10 + "WQ" * 5 + "E" * 15 + "R" * 4 + "F" * 4 + "D" * 6 + "S" * 6) * 4


def measure(world: str, start: str, size: tuple[int, int], steps: int, learned: dict) -> dict:
    session = start_session(world, start, size, learned)
    for k in KEYS[:5]:  # warm-up
        session.step(k)
    lat, stages, covered = [], {}, []
    t0 = time.perf_counter()
    for k in KEYS[5 : 5 + steps]:
        t = time.perf_counter()
        frame = session.step(k)
        lat.append((time.perf_counter() - t) * 1000)
        covered.append(float(np.mean(frame.coverage)))
        for name, ms in frame.timings.items():
            if name != "total_ms":
                stages.setdefault(name, []).append(ms)
    total = time.perf_counter() - t0
    return {
        "stages_ms_median": {name: float(np.median(v)) for name, v in stages.items()},
        "backend": world,
        "size": f"{size[1]}x{size[0]}",
        "steps_per_s": len(lat) / total,
        "latency_ms_median": float(np.median(lat)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "memory_points": len(session.memory),
        "covered_share": float(np.mean(covered)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--start", default="doom:MAP01")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--backends", default="warp,copy-last,engine,loci")
    ap.add_argument("--world-checkpoint", default=None, help="for loci/dit (default: the shipped weights)")
    ap.add_argument("--sample-steps", type=int, default=2, help="Euler steps per frame of loci/dit")
    ap.add_argument("--out", default="benchmarks/results/world.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    learned = {"world_checkpoint": args.world_checkpoint, "dit": DitConfig(steps=args.sample_steps)}
    backends = args.backends.split(",")
    rows = [
        measure(world, args.start, size, args.steps, learned)
        for size in ((120, 160), (240, 320))
        for world in backends
        if size == (120, 160) or not backend_spec(world).learned
    ]
    info = machine_info()
    print(
        f"start {args.start}, {args.steps} steps; machine: {info['cpu']}, {info['cores']} cores, torch threads {torch.get_num_threads()}"
    )
    print(
        "| backend | size | steps/s | latency median (ms) | latency p95 (ms) | memory points | covered | stages (median ms) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        stages = ", ".join(f"{k.removesuffix('_ms')} {v:.1f}" for k, v in r["stages_ms_median"].items())
        print(
            f"| {r['backend']} | {r['size']} | {r['steps_per_s']:.0f} | {r['latency_ms_median']:.1f} | {r['latency_ms_p95']:.1f} | {r['memory_points']} | {100 * r['covered_share']:.0f} % | {stages} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    payload = {"start": args.start, "machine": info, "world_checkpoint": args.world_checkpoint, "rows": rows}
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
