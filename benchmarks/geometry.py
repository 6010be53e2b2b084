"""Forward-warp throughput (warps/s) at 160×120 and 320×240, 3 and 16 channels, both splat modes.

Usage: ``python benchmarks/geometry.py [--out benchmarks/results/geometry.json] [--seconds 1.0]``
Prints a Markdown table and writes JSON. One warp = one source view (features + depth) splatted
into one target camera, including input validation, as the player and memories call it. The
``sky_render`` rows render the sky memory (a panorama seen all around) to one camera, as every
render of the point memory does in a world with a sky.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import torch

from loci.geometry import (
    SyntheticScene,
    backward_warp,
    forward_warp,
    intrinsics_from_fov,
    make_pose,
    render,
    so3_exp,
)
from loci.io import atomic_write_text, calls_per_second, machine_info
from loci.memory import SkyMemory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/results/geometry.json")
    ap.add_argument("--seconds", type=float, default=1.5, help="measuring time per row")
    args = ap.parse_args()
    torch.manual_seed(0)
    scene = SyntheticScene()
    src = torch.eye(4)
    tgt = make_pose(so3_exp(torch.tensor([0.05, 0.15, 0.0])), torch.tensor([0.2, -0.05, 0.3]))
    rows = []
    for h, w in ((120, 160), (240, 320)):
        K = intrinsics_from_fov((h, w), fov_x_deg=90)
        view = render(scene, K, src, (h, w))
        tgt_view = render(scene, K, tgt, (h, w))
        for c in (3, 16):
            feats = view.rgb if c == 3 else torch.randn(c, h, w)
            for mode in ("nearest", "bilinear"):
                r = calls_per_second(
                    partial(forward_warp, feats, view.depth, K, src, K, tgt, mode=mode), args.seconds
                )
                rows.append(
                    {"op": "forward_warp", "size": f"{w}x{h}", "channels": c, "mode": mode, "per_s": r}
                )
            r = calls_per_second(
                partial(backward_warp, feats, tgt_view.depth, K, tgt, K, src, view.depth), args.seconds
            )
            rows.append(
                {"op": "backward_warp", "size": f"{w}x{h}", "channels": c, "mode": "bilinear", "per_s": r}
            )
        sky = SkyMemory()
        for yaw in torch.arange(0, 6.3, 0.5):  # seen all around
            P = make_pose(so3_exp(torch.tensor([0.0, float(yaw), 0.0])), torch.zeros(3))
            sky.insert(torch.rand(3, h, w), K, P, torch.ones(h, w, dtype=torch.bool))
        r = calls_per_second(partial(sky.render, K, tgt, (h, w)), args.seconds)
        rows.append({"op": "sky_render", "size": f"{w}x{h}", "channels": 3, "mode": "bilinear", "per_s": r})
    info = machine_info()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} threads)"
    )
    print("| op | size | channels | mode | warps/s | ms/warp |")
    print("| --- | --- | --- | --- | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['op']} | {r['size']} | {r['channels']} | {r['mode']} | {r['per_s']:.0f} | {1000 / r['per_s']:.2f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
