"""Speed during play: key-to-frame latency of ``loci play`` measured through its WebSocket.

Usage: ``python benchmarks/player.py [--steps 60] [--threads 0,1,2] [--world loci]``
Starts ``loci play`` (the default world, on a free loopback port) once per ``--threads`` value
(0: torch's default, one per core; the player's own default is 1), sends scripted key steps one at a time over ``/ws`` as the page does,
and reports per configuration the median and p95 of the server's own time per step
(``server_ms``: step, encoding and map) and of the client's round trip, the steps/s the round
trip allows, and the median of each part of the server's time that the frame message reports
(the world's step parts, ``total_ms`` of the step, ``encode_ms`` of the images, ``map_ms`` of
the top-down map). The first 10 steps are warm-up. Prints Markdown tables; writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

from loci.io import atomic_write_text, machine_info
from play_client import connect_player, free_port, next_frame, start_player, stop_player

KEYS = "WWWWQQWWEEWWDDWWSSQQ"
WARM_UP = 10


async def drive(port: int, steps: int, timeout_s: float) -> tuple[list[dict[str, float]], list[float]]:
    """Connect (retrying while the player starts), step ``steps`` times; (each step's server timings
    in ms, round-trip ms)."""
    ws = await connect_player(port, timeout_s)

    async def frame() -> dict:
        return await next_frame(ws, timeout_s)

    server, trip = [], []
    async with ws:
        await frame()
        for i in range(steps + WARM_UP):
            t = time.perf_counter()
            await ws.send(json.dumps({"type": "step", "keys": KEYS[i % len(KEYS)], "t": 0.0, "seq": i + 1}))
            msg = await frame()
            if i >= WARM_UP:
                trip.append((time.perf_counter() - t) * 1000)
                server.append(msg["timings"])
    return server, trip


def measure(world: str, threads: int, steps: int, timeout_s: float) -> dict:
    port = free_port()
    proc = start_player(world, port, threads)
    try:
        server, trip = asyncio.run(drive(port, steps, timeout_s))
    finally:
        stop_player(proc)
    server_ms = [t["server_ms"] for t in server]
    parts = sorted({k for t in server for k in t} - {"server_ms"})
    return {
        "world": world,
        "threads": threads or "torch default",
        "steps": steps,
        "server_ms_median": float(np.median(server_ms)),
        "server_ms_p95": float(np.percentile(server_ms, 95)),
        "round_trip_ms_median": float(np.median(trip)),
        "round_trip_ms_p95": float(np.percentile(trip, 95)),
        "steps_per_s": float(1000 / np.median(trip)),
        "parts_ms_median": {k: float(np.median([t.get(k, np.nan) for t in server])) for k in parts},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument(
        "--threads", default="0,1,2", help="torch threads of the player, comma-separated (0: default)"
    )
    ap.add_argument("--world", default="loci")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the player")
    ap.add_argument("--json", default="benchmarks/results/player.json")
    args = ap.parse_args()
    rows = [measure(args.world, int(t), args.steps, args.timeout) for t in args.threads.split(",")]
    info = machine_info()
    print(
        f"`loci play --world {args.world}`, {args.steps} steps after {WARM_UP} warm-up; {info['cpu']}, {info['cores']} cores"
    )
    print("| world | torch threads | server ms (median / p95) | round trip ms (median / p95) | steps/s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['world']} | {r['threads']} | {r['server_ms_median']:.1f} / {r['server_ms_p95']:.1f} "
            f"| {r['round_trip_ms_median']:.1f} / {r['round_trip_ms_p95']:.1f} | {r['steps_per_s']:.1f} |"
        )
    parts = list(dict.fromkeys(k for r in rows for k in r["parts_ms_median"]))
    print("\nmedian ms of each part of the server's time per step")
    print("| world | torch threads | " + " | ".join(parts) + " |")
    print("| --- | --- |" + " ---: |" * len(parts))
    for r in rows:
        cells = [f"{r['parts_ms_median'].get(k, float('nan')):.1f}" for k in parts]
        print(f"| {r['world']} | {r['threads']} | " + " | ".join(cells) + " |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.json), json.dumps({"machine": info, "rows": rows}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
