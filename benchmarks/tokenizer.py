"""Tokenizer throughput (frames/s): batch decode (the interactive path) and encode at 160×120.

Usage: ``python benchmarks/tokenizer.py [--weights src/loci/models/weights/tokenizer_doom.safetensors]
[--threads 2] [--out benchmarks/results/tokenizer.json]``. Prints a Markdown table and writes JSON.
One decode = latents -> RGB in [-1, 1] + metric depth, under ``torch.inference_mode`` with a
channels-last model, in fp32 and with bf16 weights/activations (outputs are always fp32).
Without the weights file, a freshly initialised model of ``configs/tokenizer_tiny.json`` is timed.

``--eval-dir /work/data/doom_test`` also measures held-out quality (RGB PSNR, depth AbsRel, δ1 on
``--eval-frames`` evenly spaced frames, fp32 and bf16) and writes it to ``--eval-out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from loci.data.dataset import WindowDataset
from loci.io import atomic_write_text, calls_per_second, machine_info
from loci.io.configs import config_from_dict
from loci.models import Tokenizer, TokenizerConfig
from loci.training import evaluate_tokenizer, load_checkpoint, load_tokenizer


def evaluate(model: Tokenizer, source: str, args: argparse.Namespace) -> None:
    """Held-out reconstruction quality in fp32 and bf16; prints a table and writes ``args.eval_out``."""
    dataset = WindowDataset(args.eval_dir, window=1)
    results = {}
    for dtype in (torch.float32, torch.bfloat16):
        start = time.perf_counter()
        metrics = evaluate_tokenizer(model.to(dtype), dataset, args.eval_frames)
        results[str(dtype).removeprefix("torch.")] = metrics | {"seconds": time.perf_counter() - start}
    model.float()
    print(f"held-out quality on {args.eval_dir} ({len(dataset)} frames, {args.eval_frames} evaluated):")
    print("| dtype | RGB PSNR (dB) | depth AbsRel | depth δ<1.25 | known/unknown right |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, m in results.items():
        print(
            f"| {name} | {m['psnr_rgb']:.2f} | {m['depth_absrel']:.4f} | {m['depth_delta1']:.4f} "
            f"| {m['unknown_accuracy']:.4f} |"
        )
    extra = load_checkpoint(source).extra if Path(source).exists() else {}
    out = {"model": source, "step": extra.get("step"), "eval_dir": args.eval_dir, "results": results}
    out["file_bytes"] = Path(source).stat().st_size if Path(source).exists() else None
    out["parameters"] = model.num_parameters()
    atomic_write_text(args.eval_out, json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.eval_out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default="src/loci/models/weights/tokenizer_doom.safetensors")
    ap.add_argument("--config", default="configs/tokenizer_tiny.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per row")
    ap.add_argument("--out", default="benchmarks/results/tokenizer.json")
    ap.add_argument("--eval-dir", default=None, help="held-out episodes (e.g. /work/data/doom_test)")
    ap.add_argument("--eval-frames", type=int, default=1024)
    ap.add_argument("--eval-out", default="benchmarks/results/tokenizer_eval.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if Path(args.weights).exists():
        model, source = load_tokenizer(args.weights), args.weights
    else:
        cfg = config_from_dict(TokenizerConfig, json.loads(Path(args.config).read_text())["model"])
        model, source = Tokenizer(cfg).eval(), f"random init of {args.config}"
    if args.eval_dir:
        evaluate(model, source, args)
    f, c = model.cfg.downsample, model.cfg.latent_channels
    h, w = 120, 160
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        model = model.to(dtype)
        for batch in (1, 8, 32):
            z = torch.randn(batch, c, h // f, w // f)
            scale = torch.ones(batch)
            rgb, depth = torch.rand(batch, 3, h, w) * 2 - 1, 0.5 + 10 * torch.rand(batch, h, w)
            with torch.inference_mode():
                dec = calls_per_second(lambda m=model, z=z, s=scale: m.decode(z, s), args.seconds) * batch
                enc = calls_per_second(lambda m=model, r=rgb, d=depth: m.encode(r, d), args.seconds) * batch
            rows.append({"dtype": str(dtype).removeprefix("torch."), "batch": batch, "decode_fps": dec,
                         "encode_fps": enc})  # fmt: skip
    info = machine_info()
    info["torch_threads"] = torch.get_num_threads()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} ({torch.get_num_threads()} threads)"
    )
    print(f"model: {source}, {model.num_parameters():,} parameters, {w}×{h} -> {c}×{h // f}×{w // f} latents")
    print("| dtype | batch | decode frames/s | decode ms/frame | encode frames/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['dtype']} | {r['batch']} | {r['decode_fps']:.0f} | {1000 / r['decode_fps']:.2f} "
            f"| {r['encode_fps']:.0f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": info,
        "model": source,
        "parameters": model.num_parameters(),
        "size": [h, w],
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
