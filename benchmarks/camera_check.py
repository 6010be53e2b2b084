"""Camera-model check report: PSNR of frame t warped into frame t+k with the engine's own depth and poses.

Usage: ``python benchmarks/camera_check.py --engine vizdoom [--levels MAP01-MAP04] [--starts 6]``
For each motion (a key held for k steps) and k = 1..8, over random starts, warps the start frame
into frame k (nearest splat) and scores PSNR on the co-visible pixels. Prints a Markdown table
(mean dB, and the valid-pixel fraction) and writes JSON. Correct conventions give high PSNR on
static scenes; a wrong convention (intrinsics, axes, depth scale, pitch model) drops it by 10 dB+.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from loci.data.splits import parse_levels
from loci.engines import make_engine, warp_psnr
from loci.io import atomic_write_text, machine_info

MOTIONS = {
    "turn left (Q)": "Q",
    "turn right (E)": "E",
    "forward (W)": "W",
    "strafe (D)": "D",
    "look up (R)": "R",
}
DEFAULT_LEVELS = {"vizdoom": "MAP01-MAP04", "miniworld": "OneRoom,Hallway,ThreeRooms", "synthetic": "room"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="vizdoom")
    ap.add_argument("--levels", default=None)
    ap.add_argument("--starts", type=int, default=6, help="random starts per level")
    ap.add_argument("--max-k", type=int, default=8)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    engine = make_engine(args.engine)
    levels = parse_levels(args.levels or DEFAULT_LEVELS[args.engine], engine.levels())
    scores: dict[str, dict[int, list[tuple[float, float]]]] = {m: {} for m in MOTIONS}
    runs = [(lvl, s, m) for lvl in levels for s in range(args.starts) for m in MOTIONS]
    for level, seed, motion in tqdm(runs, desc=f"{args.engine} camera check", unit="run"):
        start = engine.reset(level, seed)
        obs = start
        for k in range(1, args.max_k + 1):
            obs = engine.step(MOTIONS[motion])
            try:
                check = warp_psnr(start, obs)
            except ValueError:  # too little overlap left
                break
            scores[motion].setdefault(k, []).append((check.psnr, check.valid_fraction))
    engine.close()
    ks = range(1, args.max_k + 1)
    rows = {
        m: {
            k: (float(np.mean([p for p, _ in v])), float(np.mean([f for _, f in v])), len(v))
            for k, v in d.items()
        }
        for m, d in scores.items()
    }
    info = machine_info()
    print(
        f"{args.engine}, levels {','.join(levels)}, {args.starts} starts each; mean PSNR dB (valid fraction)"
    )
    print("| motion | " + " | ".join(f"k={k}" for k in ks) + " |")
    print("| --- |" + " ---: |" * len(ks))
    for m, d in rows.items():
        cells = [f"{d[k][0]:.1f} ({d[k][1]:.2f})" if k in d else "–" for k in ks]
        print(f"| {m} | " + " | ".join(cells) + " |")
    out = Path(args.out or f"benchmarks/results/camera_check_{args.engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "engine": args.engine,
        "levels": levels,
        "starts": args.starts,
        "machine": info,
        "rows": {
            m: {str(k): {"psnr": v[0], "valid": v[1], "pairs": v[2]} for k, v in d.items()}
            for m, d in rows.items()
        },
    }
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
