"""How much darker does a surface look from farther away, level by level? Fits the distance light
falloff (:func:`loci.training.light.fit_light_falloff`) on each training level's episodes alone and on
all of them, prints b(d) at a few distances (b = 1 at 0.5 m) and writes JSON.

Usage: ``python scripts/light_by_level.py [--data data/doom_train] [--out benchmarks/results/light_by_level.json]``
Doom lights each sector at its own level and dims it with distance by a sector-dependent amount, so
one falloff per engine fits the dim levels and over-brightens the bright ones (docs/tuning.md, "light_strength").
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from loci.data.episode import Episode, list_episodes
from loci.io import atomic_write_text
from loci.training.light import LightFitConfig, fit_light_falloff

SHOWN_M = (2.0, 4.0, 8.0, 16.0, 32.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/doom_train")
    ap.add_argument("--pairs", type=int, default=60, help="frame pairs per episode")
    ap.add_argument("--out", default="benchmarks/results/light_by_level.json")
    args = ap.parse_args()
    levels = sorted({Episode(p).meta.level for p in list_episodes(args.data)})
    rows = {}
    print("| levels | " + " | ".join(f"b({d:g} m)" for d in SHOWN_M) + " | pixel pairs |")
    print("| --- |" + " ---: |" * (len(SHOWN_M) + 1))
    for name, picked in [("all", ())] + [(lv, (lv,)) for lv in levels]:
        cfg = LightFitConfig(
            data_dir=args.data,
            out="",
            levels=picked,
            pairs_per_episode=args.pairs,
            min_samples=100,
            progress=False,
        )
        light, report = fit_light_falloff(cfg)
        b = torch.exp(light.log_b(torch.tensor(SHOWN_M)) - light.log_b(torch.tensor(0.5))).numpy()
        rows[name] = {"b": dict(zip([str(d) for d in SHOWN_M], np.round(b, 3).tolist(), strict=True))} | {
            k: report[k] for k in ("samples_apart", "median_abs_ratio", "median_abs_residual")
        }
        print(
            f"| {name} | " + " | ".join(f"{x:.2f}" for x in b) + f" | {report['samples_apart']} |", flush=True
        )
    atomic_write_text(args.out, json.dumps({"data": args.data, "levels": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
