"""One benchmark case, frame by frame: the engine's truth beside each world's free-running frames.

Usage: ``python scripts/case_frames.py --engine miniworld --level Hallway --scenario pan --frames 1,4,8,16
--variants "warp;loci, memory anchored=hole_blend:0.6,anchor_from:memory;loci, fill anchored="
--out docs/images/hallway_pan_anchor.png``

Rows are the chosen frames, columns the truth then each variant; each tile is labelled with the
variant and its SSIM to the truth (:func:`loci.eval.metrics.ssim`, the benchmark's). A variant is ``warp``,
``copy-last``, ``loci`` or ``dit``, optionally named (``name=settings``, where ``name`` begins with the
backend) with ``DitConfig`` fields as ``field:value`` pairs after the ``=``. The case is the
benchmark's (``loci.eval.suite``, full suite, held-out starts) and runs along the true poses
from the true start depth (``rgbd``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from loci.engines import make_engine
from loci.eval.metrics import ssim
from loci.eval.runner import run_backend
from loci.eval.suite import build_suite
from loci.eval.truth import record_truth
from loci.io import atomic_write_bytes, hstack_panels, label_image
from loci.world import DitConfig

BACKENDS = ("warp", "copy-last", "loci", "dit")
LEARNED = ("loci", "dit")


def parse_variant(text: str) -> tuple[str, str, dict]:
    """``"name=field:value,…"`` or ``"name"`` → (label, backend, learned WorldConfig fields)."""
    label, _, settings = text.partition("=")
    label = label.strip()
    backend = next((b for b in BACKENDS if label.startswith(b)), None)
    if backend is None:
        raise SystemExit(f"variant {label!r} must begin with one of {BACKENDS}")
    fields: dict = {}
    for pair in filter(None, (p.strip() for p in settings.split(","))):
        key, _, value = pair.partition(":")
        try:
            fields[key] = float(value)
        except ValueError:
            fields[key] = value
    if fields and backend not in LEARNED:
        raise SystemExit(f"variant {label!r}: only {' and '.join(LEARNED)} take DitConfig settings")
    try:
        learned = {"dit": DitConfig(**fields)} if backend in LEARNED else {}
    except (TypeError, ValueError) as err:
        raise SystemExit(f"variant {label!r}: {err}") from None
    return label, backend, learned


def tile(rgb: np.ndarray, text: str) -> np.ndarray:
    """``rgb (H, W, 3)`` enlarged 2×, labelled."""
    return label_image(cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST), text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="miniworld")
    ap.add_argument("--level", default="Hallway")
    ap.add_argument("--scenario", default="pan")
    ap.add_argument("--frames", default="1,4,8,16")
    ap.add_argument("--variants", default="warp;loci")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="outputs/case_frames.png")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    variants = [parse_variant(v) for v in args.variants.split(";") if v.strip()]
    cases = [
        c
        for c in build_suite(False, (args.engine,))
        if c.level == args.level and c.scenario.name == args.scenario
    ]
    if not cases:
        raise SystemExit(f"no benchmark case {args.engine} {args.level} {args.scenario}")
    engine = make_engine(args.engine)
    try:
        truth = record_truth(engine, cases[0])
        preds = [run_backend(b, truth, "rgbd", engine, learned) for _, b, learned in variants]
    finally:
        engine.close()
    frames = [int(f) for f in args.frames.split(",")]
    if max(frames) >= len(truth.rgb):
        raise SystemExit(f"the case has frames 0..{len(truth.rgb) - 1}")
    rows = []
    for t in frames:
        cells = [tile(truth.rgb[t], f"truth, frame {t}")]
        for (label, _, _), p in zip(variants, preds, strict=True):
            score = ssim(p.rgb[t], truth.rgb[t])
            cells.append(tile(p.rgb[t], f"{label}: SSIM {score:.3f}"))
            print(f"frame {t:3d}  {label:40s} SSIM {score:.3f}")
        rows.append(hstack_panels(*cells))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(out.suffix or ".png", np.concatenate(rows, 0)[..., ::-1])
    if not ok:
        raise SystemExit(f"could not encode {out}")
    atomic_write_bytes(out, buf.tobytes())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
