"""Soak: thousands of steps through the player's own protocol; steps/s and the server's RSS over time.

Usage: ``python benchmarks/soak.py [--steps 10000] [--world loci] [--every 250]``
Starts ``loci play`` (the default world unless ``--world``) on a free loopback port, walks it over
``/ws`` one step at a time as the page does (a fixed mix of walking, strafing, turning and looking,
with a text command and a save every ``--save-every`` steps), and samples the server process's
resident memory (``/proc/<pid>/status`` VmRSS) and the step rate every ``--every`` steps. Prints a
table, the RSS change from step ``--from`` to the end, and writes JSON and a PNG plot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from loci.io import atomic_path, atomic_write_text, machine_info
from play_client import connect_player, free_port, next_frame, start_player, stop_player

KEYS = "WWWWQQWWEEWWDDWWSSQQAARRFFWW"


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def soak(port: int, pid: int, steps: int, every: int, save_every: int, timeout_s: float) -> list[dict]:
    ws = await connect_player(port, timeout_s)
    samples = []
    async with ws:
        first = await next_frame(ws, timeout_s)
        samples.append(
            {"step": 0, "rss_mb": rss_mb(pid), "steps_per_s": float("nan"), "points": first.get("points")}
        )
        t_window = time.perf_counter()
        for i in tqdm(range(1, steps + 1), desc="soak", unit="step", mininterval=5):
            if i % 97 == 0:
                await ws.send(json.dumps({"type": "text", "text": "turn left 30 degrees", "seq": i}))
            else:
                await ws.send(json.dumps({"type": "step", "keys": KEYS[i % len(KEYS)], "seq": i}))
            await next_frame(ws, timeout_s)
            if save_every and i % save_every == 0:
                await ws.send(json.dumps({"type": "save", "name": "soak"}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
                if reply["type"] != "saved":
                    raise RuntimeError(f"save failed: {reply}")
            if i % every == 0:
                now = time.perf_counter()
                samples.append({"step": i, "rss_mb": rss_mb(pid), "steps_per_s": every / (now - t_window)})
                t_window = now
    return samples


def plot(samples: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s["step"] for s in samples]
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    a.plot(steps, [s["rss_mb"] for s in samples], marker=".")
    a.set_ylabel("server RSS (MiB)")
    a.set_title(title)
    b.plot(steps[1:], [s["steps_per_s"] for s in samples[1:]], marker=".", color="tab:orange")
    b.set_ylabel("steps/s")
    b.set_xlabel("step")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--world", default="loci")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the player (its default: 1)")
    ap.add_argument("--every", type=int, default=250, help="sample every this many steps")
    ap.add_argument(
        "--save-every", type=int, default=2500, help="save the world every this many steps (0: never)"
    )
    ap.add_argument(
        "--from", dest="from_step", type=int, default=2000, help="RSS change measured from this step"
    )
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--json", default="benchmarks/results/soak.json")
    ap.add_argument("--plot", default="docs/images/soak.png")
    args = ap.parse_args()
    if args.steps < args.every or args.every < 1:
        raise SystemExit("--steps must be >= --every >= 1")
    port = free_port()
    with tempfile.TemporaryDirectory() as saves:
        proc = start_player(args.world, port, args.threads, ("--saves", saves))
        try:
            samples = asyncio.run(soak(port, proc.pid, args.steps, args.every, args.save_every, args.timeout))
        finally:
            stop_player(proc)
    after = [s for s in samples if s["step"] >= args.from_step]
    change = (after[-1]["rss_mb"] / after[0]["rss_mb"] - 1) * 100 if len(after) >= 2 else float("nan")
    info = machine_info()
    print(f"`loci play --world {args.world}`, {args.steps} steps; {info['cpu']}, {info['cores']} cores")
    print("| step | server RSS (MiB) | steps/s |")
    print("| ---: | ---: | ---: |")
    for s in samples:
        print(f"| {s['step']} | {s['rss_mb']:.0f} | {s['steps_per_s']:.1f} |")
    rates = [s["steps_per_s"] for s in samples[1:]]
    print(
        f"\nRSS {after[0]['rss_mb']:.0f} -> {after[-1]['rss_mb']:.0f} MiB from step {after[0]['step']} to "
        f"{after[-1]['step']} ({change:+.1f} %); steps/s median {np.median(rates):.1f}, "
        f"first window {rates[0]:.1f}, last {rates[-1]:.1f}"
    )
    payload = {
        "world": args.world,
        "steps": args.steps,
        "threads": args.threads,
        "machine": info,
        "samples": samples,
        "rss_change_pct": change,
        "from_step": args.from_step,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.json), json.dumps(payload, indent=1) + "\n")
    plot(samples, Path(args.plot), f"loci play --world {args.world}: {args.steps} steps")
    print(f"wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
