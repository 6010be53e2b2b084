"""Causal DiT step latency: one Euler step of one new frame against a KV cache of history frames.

Usage: ``python benchmarks/dit.py [--threads 2] [--history 8]``. Times ``model.step`` (inference
mode) for the default ``DiTConfig`` and the ``configs/world_tiny.json`` model at 30×40 latents
(the shipped tokenizer's latents of a 160×120 frame). A frame costs ``steps`` Euler steps plus one
commit. Prints a Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from loci.io import atomic_write_text, config_from_dict, machine_info
from loci.models import CausalDiT, DiTConfig
from loci.training.world import WorldTrainConfig


def step_ms(cfg: DiTConfig, history: int, latent: tuple[int, int], repeats: int = 20) -> tuple[float, int]:
    """Median milliseconds of one single-frame ``step`` with ``history`` cached frames, and the parameter count."""
    cfg = DiTConfig(**{**cfg.__dict__, "chunk_frames": 1, "max_history": max(cfg.max_history, history)})
    model = CausalDiT(cfg).eval()
    c = cfg.latent_channels
    cache = model.new_cache(1, latent, capacity=history + 1)
    with torch.inference_mode():
        for i in range(history):
            model.commit(torch.randn(1, 1, c, *latent), cache, [i], list(cache.slots), i)
        x, t = torch.randn(1, 1, c, *latent), torch.full((1, 1), 0.5)
        for _ in range(3):
            model.step(x, t, cache, list(cache.slots), history)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.step(x, t, cache, list(cache.slots), history)
            times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2], sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--history", type=int, default=8)
    ap.add_argument("--out", default="benchmarks/results/dit.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tiny = config_from_dict(WorldTrainConfig, json.loads(Path("configs/world_tiny.json").read_text())).model
    rows = []
    for name, cfg in (("world_tiny", tiny), ("DiTConfig() default", DiTConfig())):
        ms, params = step_ms(cfg, args.history, (30, 40))
        rows.append({"model": name, "params_m": params / 1e6, "patch": cfg.patch_size, "step_ms": ms})
    info = machine_info()
    print(
        f"{args.history} history frames, 30x40 latents, {args.threads} threads; {info['cpu']}, {info['cores']} cores"
    )
    print("| model | params (M) | patch | ms per Euler step |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['params_m']:.1f} | {r['patch']} | {r['step_ms']:.1f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        args.out, json.dumps({"machine": info, "history": args.history, "rows": rows}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
