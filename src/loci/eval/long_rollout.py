"""Long rollouts: does a world hold its quality over 1,000 free-running frames?

The truth is recorded once (an exploration policy on a held-out level); every backend then runs
free along the true camera poses through the World/Session API (no teacher forcing), and each
horizon bucket (frames 1–16, 17–64, 65–256, 257–1000 after the start frame) gets its mean PSNR,
SSIM, sharpness ratio (prediction / truth Laplacian energy), temporal flickering (the truth's own
flickering in the same frames is the reference) and
steps/s. Writes JSON, a PSNR-vs-frame plot and a truth | backends MP4.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from loci.data.splits import split_of
from loci.engines import Engine, make_engine
from loci.io import Mp4Writer, atomic_path, atomic_write_text, hstack_panels, label_image, machine_info
from loci.world import PointMemoryConfig, World, WorldConfig

from .metrics import PSNR_CAP_DB, psnr, sharpness_ratio, ssim, temporal_flickering
from .revisit import RevisitConfig, find_revisits, revisit_consistency
from .suite import Case, Scenario
from .truth import Truth, record_truth

EDGES = (16, 64, 256, 1000)  # bucket ends, in frames after the start frame


@dataclass(frozen=True)
class LongRolloutConfig:
    """engine / level / seed / policy / frames: the recorded walk (held-out split only; ``frames``
    includes the start frame). face_open: turn to face open space before the walk (not recorded).
    backends: worlds to run. learned: WorldConfig fields of the learned backends
    (``world_checkpoint``, ``tokenizer_checkpoint``, ``dit``). engine_config: engine config
    overrides (e.g. ``size``). out: folder for the plot and the video (None: neither). json_path:
    where the results go (None: not written). video: write the MP4. command: recorded in the JSON.
    memory: the session memory of every backend (None: the default; ablations of footprints and sky).

    The default walk, MAP25 seed 5 with ``detour_revisit`` after turning to open space, was picked
    from the walks alone (no world model ran): of seeds 0–9, seed 5 has the most revisits more than
    256 frames apart (32 of 216 pairs; 311 m walked) among the walks that last 1000 frames and
    move on at least half of the steps (seed 0 walks over an exit after 970 frames)."""

    engine: str = "vizdoom"
    level: str = "MAP25"
    seed: int = 5
    frames: int = 1000
    policy: str = "detour_revisit"
    face_open: bool = True
    backends: tuple[str, ...] = ("copy-last", "warp", "loci")
    learned: dict = field(default_factory=dict)
    engine_config: dict = field(default_factory=dict)
    out: Path | None = Path("outputs/long_rollout")
    json_path: Path | None = Path("benchmarks/results/long_rollout.json")
    video: bool = True
    command: str = "python benchmarks/long_rollout.py"
    memory: PointMemoryConfig | None = None


def long_buckets(length: int, edges: tuple[int, ...] = EDGES) -> list[tuple[str, int, int]]:
    """``(label, first, last)`` frame ranges of a rollout of ``length`` frames (frame 0 = the start).

    Bucket k covers frames ``(edges[k-1], edges[k]]`` clipped to ``length - 1``; frames past the last
    edge form one more bucket. Labels name the full range (``"17–64"``) even when it is cut short.
    """
    out, prev = [], 0
    for e in (*edges, max(length - 1, edges[-1])):
        if prev + 1 <= min(e, length - 1):
            out.append((f"{prev + 1}–{e}", prev + 1, min(e, length - 1)))
        prev = e
        if e >= length - 1:
            break
    return out


@dataclass(frozen=True, eq=False)
class Rollout:
    """``rgb (T, H, W, 3)`` uint8 free-running frames (frame 0 = the start); ``step_s (T-1,)``:
    wall-clock seconds of each ``session.step``; ``step_cpu_s (T-1,)``: the process's CPU seconds of
    each (on a shared machine wall time also counts other processes; with one torch thread, CPU
    time is what a quiet machine would take); ``error``: why the backend could not run (rgb is None)."""

    backend: str
    rgb: np.ndarray | None
    step_s: np.ndarray | None
    step_cpu_s: np.ndarray | None = None
    error: str | None = None


def free_run(
    backend: str, truth: Truth, learned: dict | None = None, memory: PointMemoryConfig | None = None
) -> Rollout:
    """Start ``backend`` from the true first frame (RGB + depth + K) and step it along the true poses."""
    extra = dict(learned or {})
    if memory is not None:
        extra["memory"] = memory
    try:
        session = World(WorldConfig(backend=backend, collision_m=None, **extra)).start(
            truth.rgb[0], truth.depth[0], truth.K[0], engine=truth.case.engine
        )
    except ValueError as err:
        return Rollout(backend, None, None, None, str(err))
    frames, times, cpu = [session.frame.rgb], [], []
    for pose in tqdm(truth.poses[1:], desc=f"{backend:>10} free-running", unit="frame", leave=False):
        t0, c0 = time.perf_counter(), time.process_time()
        frames.append(session.step(pose).rgb)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Rollout(backend, np.stack(frames), np.array(times), np.array(cpu))


def _mean(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def score_rollout(truth: Truth, roll: Rollout, buckets: list[tuple[str, int, int]]) -> dict:
    """Per-frame PSNR (capped at :data:`PSNR_CAP_DB`) and SSIM, their means per bucket, flickering per
    bucket (frame pairs ``(t-1, t)`` with ``t`` in the bucket), steps/s, and revisit PSNR (all pairs of
    :func:`~loci.eval.revisit.find_revisits`, and by the gap between the visits, in the same buckets)."""
    if roll.error:
        return {"backend": roll.backend, "error": roll.error}
    T = len(truth)
    frame_psnr = np.array([psnr(roll.rgb[t], truth.rgb[t], cap_db=PSNR_CAP_DB) for t in range(T)])
    frame_ssim = np.array(
        [
            ssim(roll.rgb[t], truth.rgb[t])
            for t in tqdm(range(T), desc=f"{roll.backend:>10} SSIM", leave=False)
        ]
    )
    rows = []
    for label, a, b in buckets:
        rows.append(
            {
                "horizon": label,
                "first": a,
                "last": b,
                "psnr": _mean(frame_psnr[a : b + 1]),
                "ssim": _mean(frame_ssim[a : b + 1]),
                "flicker": temporal_flickering(roll.rgb[a - 1 : b + 1]),
                "sharpness": sharpness_ratio(roll.rgb[a : b + 1], truth.rgb[a : b + 1]),
                "steps_per_s": float((b - a + 1) / max(roll.step_s[a - 1 : b].sum(), 1e-9)),
                "steps_per_cpu_s": float((b - a + 1) / max(roll.step_cpu_s[a - 1 : b].sum(), 1e-9)),
            }
        )
    out = {
        "backend": roll.backend,
        "frames": T,
        "seconds": float(roll.step_s.sum()),
        "steps_per_s": float((T - 1) / max(roll.step_s.sum(), 1e-9)),
        "steps_per_cpu_s": float((T - 1) / max(roll.step_cpu_s.sum(), 1e-9)),
        "torch_threads": torch.get_num_threads(),
        "buckets": rows,
        "per_frame": {
            "psnr": [round(float(v), 3) for v in frame_psnr],
            "ssim": [round(float(v), 4) for v in frame_ssim],
        },
    }
    pairs = find_revisits(truth.poses, RevisitConfig())
    out["revisit_pairs"] = len(pairs)
    if len(pairs):
        rc = revisit_consistency(roll.rgb, truth.rgb, pairs)
        out["revisit_psnr_truth"], out["revisit_psnr_first"] = _mean(rc.psnr_truth), _mean(rc.psnr_first)
        gaps = pairs[:, 1] - pairs[:, 0]
        out["revisit_by_gap"] = [
            {
                "gap": label,
                "pairs": int(((gaps >= a) & (gaps <= b)).sum()),
                "psnr_truth": _mean(rc.psnr_truth[(gaps >= a) & (gaps <= b)]),
                "psnr_first": _mean(rc.psnr_first[(gaps >= a) & (gaps <= b)]),
            }
            for label, a, b in buckets
        ]
    return out


def checkpoint_info(path: str | None) -> dict | None:
    """Path, SHA-256 and training step (from the safetensors metadata, when there) of a checkpoint."""
    if not path or not Path(path).is_file():
        return None if not path else {"path": str(path), "missing": True}
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        step = (f.metadata() or {}).get("step")
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"path": str(path), "sha256": digest, "step": int(step) if step is not None else None}


def record_walk(engine: Engine, case: Case, face_open: bool = True) -> Truth:
    """:func:`~loci.eval.truth.record_truth` for a policy walk, first turning to face open space (not
    recorded) when ``face_open``: a random start often faces a wall, which leaves a free run almost
    nothing to go on. Shorter than ``case.scenario.frames`` if the episode ends."""
    return record_truth(engine, case, face_open=face_open, progress=True)


def _record(cfg: LongRolloutConfig) -> Truth:
    if split_of(cfg.engine, cfg.level, cfg.seed) != "test":
        raise ValueError(
            f"{cfg.engine} {cfg.level} seed {cfg.seed} is in the training split; use a held-out one"
        )
    engine = make_engine(cfg.engine, **cfg.engine_config)
    try:
        case = Case(cfg.engine, cfg.level, cfg.seed, Scenario(cfg.policy, cfg.frames, policy=cfg.policy))
        return record_walk(engine, case, cfg.face_open)
    finally:
        engine.close()


def run(cfg: LongRolloutConfig) -> dict:
    """Record the truth, run every backend free along it, score, and write JSON / plot / video."""
    torch.manual_seed(0)
    start = time.perf_counter()
    t0 = time.perf_counter()
    truth = _record(cfg)
    record_s = time.perf_counter() - t0
    buckets = long_buckets(len(truth))
    rollouts = [free_run(b, truth, cfg.learned, cfg.memory) for b in cfg.backends]
    rows = [score_rollout(truth, r, buckets) for r in rollouts]
    results = {
        "command": cfg.command,
        "machine": machine_info(),
        "engine": cfg.engine,
        "level": cfg.level,
        "seed": cfg.seed,
        "policy": cfg.policy,
        "prelude": "".join(truth.prelude),
        "frames_requested": cfg.frames,
        "frames": len(truth),
        "ended_early": len(truth) < cfg.frames,
        "backends": list(cfg.backends),
        "learned": {k: str(v) for k, v in cfg.learned.items()},
        "memory": None if cfg.memory is None else str(cfg.memory),
        "world_checkpoint": checkpoint_info(cfg.learned.get("world_checkpoint")),
        "record_seconds": record_s,
        "truth_flicker": [
            {"horizon": label, "flicker": temporal_flickering(truth.rgb[a - 1 : b + 1])}
            for label, a, b in buckets
        ],
        "truth_revisit_pairs": len(find_revisits(truth.poses, RevisitConfig())),
        "rows": rows,
    }
    if cfg.out is not None:
        cfg.out.mkdir(parents=True, exist_ok=True)
        plot_psnr(results, cfg.out / "psnr_by_frame.png")
        if cfg.video:
            write_video(truth, rollouts, cfg.out / "long_rollout.mp4")
    results["seconds"] = time.perf_counter() - start
    if cfg.json_path is not None:
        cfg.json_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cfg.json_path, json.dumps(results, indent=1, default=float) + "\n")
    return results


def _fmt(v: float | None, digits: int) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def markdown_table(results: dict) -> str:
    """Rows: backend × horizon bucket; flicker next to the truth's own (1 = static)."""
    truth_flicker = {r["horizon"]: r["flicker"] for r in results["truth_flicker"]}
    lines = [
        f"{results['engine']} {results['level']} seed {results['seed']}, policy {results['policy']}, "
        f"{results['frames']} frames"
        + (
            f" (episode ended early; {results['frames_requested']} requested)"
            if results["ended_early"]
            else ""
        )
        + f", free-running along the true poses; {results['seconds']:.0f} s.",
        "",
        "| backend | frames | PSNR | SSIM | sharpness | flicker | truth flicker | steps/s | steps/CPU-s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    for row in results["rows"]:
        if "error" in row:
            notes.append(f"- `{row['backend']}`: not run ({row['error']}).")
            continue
        for b in row["buckets"]:
            lines.append(
                f"| {row['backend']} | {b['first']}–{b['last']} | {_fmt(b['psnr'], 2)} | {_fmt(b['ssim'], 3)} | "
                f"{_fmt(b.get('sharpness'), 2)} | {_fmt(b['flicker'], 4)} | {_fmt(truth_flicker[b['horizon']], 4)} | {_fmt(b['steps_per_s'], 1)} | "
                f"{_fmt(b['steps_per_cpu_s'], 1)} |"
            )
    revisits = [r for r in results["rows"] if r.get("revisit_pairs")]
    if revisits:
        gaps = [g for g in revisits[0]["revisit_by_gap"] if g["pairs"]]
        lines += [
            "",
            f"Revisits: {revisits[0]['revisit_pairs']} frame pairs of the true walk at near-equal poses; PSNR of "
            "the later frame vs the truth, by frames between the visits (pairs), and vs the frame the "
            "backend showed at the first visit:",
            "",
            "| backend | all | "
            + " | ".join(f"gap {g['gap']} ({g['pairs']})" for g in gaps)
            + " | vs 1st visit |",
            "| --- | ---: |" + " ---: |" * len(gaps) + " ---: |",
        ]
        for r in revisits:
            by_gap = {g["gap"]: g["psnr_truth"] for g in r["revisit_by_gap"]}
            cells = [_fmt(by_gap[g["gap"]], 2) for g in gaps]
            lines.append(
                f"| {r['backend']} | {_fmt(r['revisit_psnr_truth'], 2)} | "
                + " | ".join(cells)
                + f" | {_fmt(r['revisit_psnr_first'], 2)} |"
            )
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def plot_psnr(results: dict, path: Path) -> None:
    """PSNR per frame (faint) and its 16-frame running mean per backend, bucket edges dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for row in results["rows"]:
        if "error" in row:
            continue
        y = np.minimum(np.array(row["per_frame"]["psnr"][1:]), 60.0)
        x = np.arange(1, len(y) + 1)
        (line,) = ax.plot(x, y, alpha=0.25, lw=0.7)
        k = min(16, len(y))
        smooth = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(x[k - 1 :], smooth, color=line.get_color(), lw=1.6, label=row["backend"])
    for e in EDGES:
        if e < results["frames"] - 1:
            ax.axvline(e, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("frame (free-running, after the start frame)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(
        f"{results['engine']} {results['level']}, {results['policy']}: PSNR by frame (16-frame mean)"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def write_video(truth: Truth, rollouts: list[Rollout], path: Path, fps: float = 15.0) -> None:
    """truth | each backend that ran, side by side, labelled, one MP4 frame per frame."""
    ran = [r for r in rollouts if r.rgb is not None]
    with Mp4Writer(path, fps=fps) as video:
        for t in tqdm(range(len(truth)), desc="video", unit="frame", leave=False):
            panels = [label_image(truth.rgb[t], f"truth {t}")] + [
                label_image(r.rgb[t], r.backend) for r in ran
            ]
            video.write(hstack_panels(*panels))
