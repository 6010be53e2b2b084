"""Monocular depth net: held-out quality on ViZDoom MAP25–32 and CPU latency per 160×120 frame.

Usage: ``python benchmarks/depth.py [--weights src/loci/models/weights/depth_doom.safetensors]
[--eval-dir data/doom_test] [--train-dir data/doom_train] [--out benchmarks/results/depth.json]``.
Prints Markdown tables and writes JSON.

Quality: AbsRel, δ<1.25 and RMSE of log-depth pooled over every known pixel (``0 < d < max_depth_m``)
of every frame of ``--eval-dir`` (or ``--eval-frames`` evenly spaced ones), overall and per level, next
to a constant-depth reference (the median known depth of ``--eval-frames`` frames of ``--train-dir``).
Latency: one frame (batch 1) under ``torch.inference_mode`` on 1 and 2 threads, through the tensor
path ``model(rgb)`` and the numpy front door ``model.predict(uint8 image)``. The machine's load
average is recorded per row: a row whose threads plus load exceed the cores measured waiting, not the
model (the quality pass runs on ``--eval-threads``, default 1, for the same reason).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from loci.data.dataset import WindowDataset
from loci.data.episode import Episode
from loci.io import atomic_write_text, calls_per_second, machine_info
from loci.io.configs import config_from_dict
from loci.models.checkpoint import load_checkpoint
from loci.models.depth import DepthNet, DepthNetConfig
from loci.models.loading import load_depth_model
from loci.training.depth import evaluate_depth, known_mask

SIZE = (120, 160)


class ConstantDepth(torch.nn.Module):
    """Reference: the same depth everywhere (evaluated like a DepthNet)."""

    def __init__(self, depth_m: float, cfg: DepthNetConfig):
        super().__init__()
        self.cfg = cfg
        self.depth = torch.nn.Parameter(torch.tensor(float(depth_m)), requires_grad=False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.depth.expand(rgb.shape[0], *rgb.shape[2:])


def frame_indices(dataset: WindowDataset, frames: int) -> list[int]:
    """All frames (``frames <= 0``) or ``frames`` evenly spaced ones."""
    if frames <= 0 or frames >= len(dataset):
        return list(range(len(dataset)))
    return np.linspace(0, len(dataset) - 1, frames).round().astype(int).tolist()


def median_depth(root: str, frames: int, max_depth_m: float) -> float:
    """Median known depth over ``frames`` evenly spaced frames of the episodes under ``root``."""
    ds = WindowDataset(root, window=1)
    depths = [ds[i]["depth"][0] for i in frame_indices(ds, frames)]
    d = torch.stack(depths)
    return float(d[known_mask(d, max_depth_m)].median())


def quality(model: torch.nn.Module, args: argparse.Namespace) -> dict:
    """Metrics overall and per level on ``args.eval_dir``."""
    ds = WindowDataset(args.eval_dir, window=1)
    idx = frame_indices(ds, args.eval_frames)
    levels = [Episode(p).meta.level for p in ds.episodes]
    by_level: dict[str, list[int]] = defaultdict(list)
    for i in idx:
        by_level[levels[ds.index[i][0]]].append(i)

    def run(indices: list[int]) -> dict:
        return evaluate_depth(model, DataLoader(Subset(ds, indices), batch_size=32, shuffle=False))

    out = {"all": run(idx)}
    out.update({level: run(ii) for level, ii in sorted(by_level.items())})
    return out


def latency(model: DepthNet, seconds: float) -> list[dict]:
    """ms per frame (batch 1, 160×120) on 1 and 2 threads, tensor path and numpy path."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        load = os.getloadavg()[0]
        with torch.inference_mode():
            fwd = calls_per_second(lambda: model(x), seconds)
        pred = calls_per_second(lambda: model.predict(img), seconds)
        rows.append(
            {"threads": threads, "forward_ms": 1000 / fwd, "predict_ms": 1000 / pred, "load_average": load}
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default="src/loci/models/weights/depth_doom.safetensors")
    ap.add_argument("--config", default="configs/depth_tiny.json", help="model config if no weights")
    ap.add_argument("--eval-dir", default="data/doom_test", help="held-out episodes (ViZDoom MAP25–32)")
    ap.add_argument("--eval-frames", type=int, default=0, help="evenly spaced frames; 0 = all")
    ap.add_argument("--train-dir", default="data/doom_train", help="for the constant-depth reference")
    ap.add_argument("--reference-frames", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per latency row")
    ap.add_argument("--eval-threads", type=int, default=1, help="torch threads for the quality pass")
    ap.add_argument("--out", default="benchmarks/results/depth.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    load = os.getloadavg()
    if Path(args.weights).exists():
        model, source = load_depth_model(args.weights), args.weights
        step = load_checkpoint(args.weights, "depth").step
    else:
        cfg = config_from_dict(DepthNetConfig, json.loads(Path(args.config).read_text())["model"])
        model, source, step = DepthNet(cfg).eval(), f"random init of {args.config}", None
    torch.set_num_threads(args.eval_threads)
    start = time.perf_counter()
    results = {"depth_net": quality(model, args)}
    ref = None
    if args.train_dir and Path(args.train_dir).exists():
        ref = median_depth(args.train_dir, args.reference_frames, model.cfg.max_depth_m)
        results["constant_median"] = quality(ConstantDepth(ref, model.cfg), args)
    eval_s = time.perf_counter() - start
    rows = latency(model, args.seconds)
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, load average {load[0]:.2f}")
    print(f"model: {source} (step {step}), {model.num_parameters():,} parameters")
    n = results["depth_net"]["all"]["frames"]
    print(f"\nheld-out depth on {args.eval_dir} ({n} frames, known pixels pooled):")
    print("| predictor | level | AbsRel | δ<1.25 | RMSE log |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, per_level in results.items():
        label = name if ref is None or name == "depth_net" else f"constant {ref:.2f} m"
        for level, m in per_level.items():
            print(f"| {label} | {level} | {m['abs_rel']:.3f} | {m['delta1']:.3f} | {m['rmse_log']:.3f} |")
    print(f"\nlatency per {SIZE[1]}×{SIZE[0]} frame (batch 1, fp32):")
    print("| threads | model(rgb) ms | predict(uint8) ms | load average |")
    print("| ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['threads']} | {r['forward_ms']:.2f} | {r['predict_ms']:.2f} | {r['load_average']:.2f} |")
    cores = info["cores"] or 1
    if any(r["threads"] + r["load_average"] > cores + 0.5 for r in rows):
        print(
            f"note: threads + load average exceeded the {cores} cores in some rows: those rows waited for busy "
            "cores (OpenMP threads stall at every barrier) and are not the model's speed"
        )
    out = {
        "machine": info,
        "load_average_at_start": load,
        "model": source,
        "step": step,
        "parameters": model.num_parameters(),
        "file_bytes": Path(args.weights).stat().st_size if Path(args.weights).exists() else None,
        "eval_dir": args.eval_dir,
        "constant_reference_m": ref,
        "quality": results,
        "eval_seconds": eval_s,
        "size": list(SIZE),
        "latency": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
