"""Long rollouts: PSNR, SSIM and flickering by horizon over 1,000 free-running frames.

Usage: ``python benchmarks/long_rollout.py [--level MAP25] [--frames 1000] [--backends copy-last,warp,loci]
[--world-checkpoint PATH]``
Records one walk on a held-out level with an exploration policy (by default ``detour_revisit``: a
long detour, the way back, a look around at the start), runs every backend free along the true
poses (no teacher forcing) and reports each horizon bucket (frames 1–16, 17–64, 65–256, 257–1000):
mean PSNR, mean SSIM, temporal flickering next to the truth's own, steps/s; and PSNR at revisits.
Prints a Markdown table; writes JSON, a PSNR-by-frame plot and a truth | backends MP4.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from loci.eval.long_rollout import LongRolloutConfig, markdown_table, run
from loci.world import DitConfig, PointMemoryConfig, SkyConfig


def _size(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = LongRolloutConfig()  # one source of defaults
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default=d.engine)
    ap.add_argument("--level", default=d.level)
    ap.add_argument("--seed", type=int, default=d.seed, help="the default walk: see LongRolloutConfig")
    ap.add_argument("--frames", type=int, default=d.frames, help="frames of the walk, start frame included")
    ap.add_argument("--policy", default=d.policy)
    ap.add_argument("--no-face-open", action="store_true", help="skip turning to face open space first")
    ap.add_argument("--size", type=_size, default=None, help="engine frame size HxW (default: the engine's)")
    ap.add_argument("--backends", default=",".join(d.backends))
    ap.add_argument("--world-checkpoint", default=None, help="learned world weights (loci, dit backends)")
    ap.add_argument("--tokenizer-checkpoint", default=None, help="default: the shipped tokenizer")
    ap.add_argument("--window", type=int, default=None, help="KV-cache window of the learned world (frames)")
    ap.add_argument("--out", type=Path, default=d.out, help="plot and video folder")
    ap.add_argument("--json", type=Path, default=d.json_path)
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument(
        "--no-footprints", action="store_true", help="memory points splat one pixel each (ablation)"
    )
    ap.add_argument("--no-sky", action="store_true", help="no sky memory (ablation)")
    return ap.parse_args(argv)


def config_from_args(args: argparse.Namespace, command: str) -> LongRolloutConfig:
    learned: dict = {}
    if args.world_checkpoint:
        learned["world_checkpoint"] = args.world_checkpoint
    if args.tokenizer_checkpoint:
        learned["tokenizer_checkpoint"] = args.tokenizer_checkpoint
    if args.window:
        learned["dit"] = DitConfig(window=args.window)
    return LongRolloutConfig(
        engine=args.engine,
        level=args.level,
        seed=args.seed,
        frames=args.frames,
        policy=args.policy,
        face_open=not args.no_face_open,
        backends=tuple(b.strip() for b in args.backends.split(",") if b.strip()),
        learned=learned,
        engine_config={"size": args.size} if args.size else {},
        out=args.out,
        json_path=args.json,
        video=not args.no_video,
        command=command,
        memory=PointMemoryConfig(footprints=not args.no_footprints, sky=None if args.no_sky else SkyConfig())
        if args.no_footprints or args.no_sky
        else None,
    )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/long_rollout.py", *argv])
    results = run(config_from_args(args, command))
    print(markdown_table(results))
    print(f"wrote {args.json}" + ("" if args.out is None else f", {args.out}/"))
    return results


if __name__ == "__main__":
    main()
