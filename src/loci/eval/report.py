"""Benchmark output: JSON, a Markdown table (also BENCHMARKS.md), PSNR-vs-horizon plots, side-by-side MP4s."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from loci.io import Mp4Writer, atomic_write_text, hstack_panels, machine_info
from loci.world import backend_spec

from .runner import Prediction
from .score import HORIZONS
from .truth import Truth

COLUMNS = (
    ("tf_psnr", "TF PSNR", 2),
    ("psnr@1", "PSNR@1", 2),
    ("psnr@16", "PSNR@16", 2),
    ("psnr@64", "PSNR@64", 2),
    ("psnr@256", "PSNR@256", 2),
    ("ssim@16", "SSIM@16", 3),
    ("ssim@64", "SSIM@64", 3),
    ("sharp@64", "sharp@64", 2),
    ("sharp@256", "sharp@256", 2),
    ("depth_absrel", "AbsRel", 3),
    ("depth_delta1", "δ<1.25", 3),
    ("depth_coverage", "depth cov.", 2),
    ("flicker", "flicker", 3),
    ("memory_symmetry", "MemSym", 3),
    ("revisit_psnr_truth", "revisit vs truth", 2),
    ("revisit_psnr_first", "revisit vs 1st", 2),
    ("trajectory_accuracy", "TA score", 3),
    ("trajectory_accurate", "TA", 2),
    ("rot_err", "RotErr", 2),
    ("trans_err", "TransErr", 2),
    ("steps_per_s", "steps/s", 0),
    ("peak_rss_mb", "peak RSS MB", 0),
)


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r and r[key] is not None and math.isfinite(r[key])]
    return float(np.mean(vals)) if vals else float("nan")


def _fmt(v: float, digits: int) -> str:
    return "–" if not math.isfinite(v) else f"{v:.{digits}f}"


def markdown_tables(results: dict) -> str:
    """One table per engine (rows: backend × start mode, means over cases) and a per-scenario PSNR table."""
    rows = [r for r in results["rows"] if "error" not in r]
    info = machine_info()
    lines = [
        f"Command: `{results['command']}` — {len({(r['engine'], r['level'], r['scenario']) for r in rows})} cases, "
        f"{results['seconds']:.0f} s on {info['cpu']} ({info['cores']} cores, torch {info['torch']}).",
        "",
        "TF = teacher-forced next frame; PSNR@h = mean over free-running frames (previous horizon, h]; "
        "sharp@h = sharpness ratio over the same frames (grey Laplacian energy, prediction / truth: "
        "below 1 blur, above 1 noise); "
        "revisit PSNR against the true view and against the view generated at the first visit; TA score = "
        "mean per-step 6-DoF direction similarity of the camera motion estimated from the generated pixels "
        "(with their depth) to the true one, TA = WorldScape's Trajectory Accuracy, the share of cases whose "
        "TA score reaches τ = 0.55; RotErr/TransErr of the same estimate. Mode `rgbd` starts from the true start depth, `rgb` from the image alone.",
        "",
    ]
    for engine in sorted({r["engine"] for r in rows}):
        sub = [r for r in rows if r["engine"] == engine]
        lines += [f"### {engine}", "", "| backend | start | " + " | ".join(c[1] for c in COLUMNS) + " |"]
        lines.append("| --- | --- |" + " ---: |" * len(COLUMNS))
        for backend in results["config"]["backends"]:
            for mode in results["config"]["modes"]:
                rs = [r for r in sub if r["backend"] == backend and r["mode"] == mode]
                if rs:
                    cells = [_fmt(_mean(rs, k), d) for k, _, d in COLUMNS]
                    lines.append(f"| {backend} | {mode} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"PSNR@16 by scenario ({engine}, rgbd):",
            "",
            "| backend | " + " | ".join(_scenarios(sub)) + " |",
        ]
        lines.append("| --- |" + " ---: |" * len(_scenarios(sub)))
        for backend in results["config"]["backends"]:
            cells = [
                _fmt(
                    _mean(
                        [
                            r
                            for r in sub
                            if r["backend"] == backend and r["mode"] == "rgbd" and r["scenario"] == s
                        ],
                        "psnr@16",
                    ),
                    2,
                )
                for s in _scenarios(sub)
            ]
            lines.append(f"| {backend} | " + " | ".join(cells) + " |")
        lines.append("")
    missing = sorted({(r["backend"], r["mode"], r["error"]) for r in results["rows"] if "error" in r})
    if missing:
        lines.append("Not run:")
    for backend, mode, err in missing:
        lines.append(f"- `{backend}` in `{mode}` mode: not run ({err}).")
    return "\n".join(lines) + "\n"


def _scenarios(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["scenario"] for r in rows))


def plot_horizons(results: dict, path: Path) -> None:
    """PSNR against horizon, one line per backend, one panel per engine (rgbd mode)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["rows"] if "error" not in r and r["mode"] == "rgbd"]
    engines = sorted({r["engine"] for r in rows})
    fig, axes = plt.subplots(1, len(engines), figsize=(5 * len(engines), 3.6), squeeze=False)
    for ax, engine in zip(axes[0], engines, strict=True):
        for backend in results["config"]["backends"]:
            rs = [r for r in rows if r["engine"] == engine and r["backend"] == backend]
            hs = [h for h in HORIZONS if math.isfinite(_mean(rs, f"psnr@{h}"))]
            ys = [min(_mean(rs, f"psnr@{h}"), 60) for h in hs]
            ax.plot(hs, ys, marker="o", label=backend)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("horizon (frames)")
        ax.set_ylabel("PSNR (dB, engine capped at 60)")
        ax.set_title(engine)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_videos(kept: Sequence[tuple[Truth, dict[str, Prediction]]], folder: Path) -> list[Path]:
    """truth | prediction | |error| MP4s for the kept cases, one per backend but the engine (the truth)."""
    paths = []
    for truth, preds in kept:
        for backend, pred in preds.items():
            if backend_spec(backend).driven_by == "keys" or pred.rgb is None:  # the engine: the truth itself
                continue
            path = folder / f"{truth.case.name}-{backend}.mp4"
            with Mp4Writer(path, fps=10) as video:
                for t in range(len(truth)):
                    err = np.abs(pred.rgb[t].astype(np.int16) - truth.rgb[t]).astype(np.uint8)
                    video.write(
                        hstack_panels(truth.rgb[t], pred.rgb[t], np.clip(err * 3, 0, 255).astype(np.uint8))
                    )
            paths.append(path)
    return paths


def write_report(
    results: dict, kept: Sequence[tuple[Truth, dict[str, Prediction]]], out: Path, markdown: Path | None
) -> None:
    """Write ``out/results.json``, ``out/results.md``, ``out/psnr_horizon.png``, ``out/videos/*.mp4`` and BENCHMARKS.md."""
    out.mkdir(parents=True, exist_ok=True)
    results = dict(results, machine=machine_info())
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=float) + "\n")
    table = markdown_tables(results)
    atomic_write_text(out / "results.md", table)
    plot_horizons(results, out / "psnr_horizon.png")
    (out / "videos").mkdir(exist_ok=True)
    write_videos(kept, out / "videos")
    if markdown is not None:
        name = "quick suite" if results["config"]["quick"] else "full suite"
        write_section(markdown, f"loci bench: {name}", f"## World models, {name}\n\n" + table)


def write_section(path: Path, key: str, body: str) -> None:
    """Replace the section between ``<!-- begin KEY -->`` and ``<!-- end KEY -->`` in ``path``
    (append it if missing), keeping everything else in the file."""
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    text = path.read_text() if path.exists() else "# loci benchmarks\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write_text(path, text)
