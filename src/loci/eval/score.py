"""Scoring one backend's run on one benchmark case against the truth."""

from __future__ import annotations

import math

import numpy as np

from .camera import MotionConfig, estimate_trajectory
from .metrics import (
    PSNR_CAP_DB,
    depth_error,
    memory_symmetry,
    psnr,
    sharpness_ratio,
    ssim,
    temporal_flickering,
)
from .revisit import RevisitConfig, find_revisits, revisit_consistency
from .runner import Prediction
from .trajectory import camera_errors, trajectory_accuracy
from .truth import Truth

HORIZONS = (1, 16, 64, 256)


def horizon_buckets(length: int) -> list[tuple[int, int, int]]:
    """``(h, first, last)`` frame ranges: horizon h covers frames ``(previous h, h]`` that exist."""
    out, prev = [], 0
    for h in HORIZONS:
        if prev + 1 <= length - 1:
            out.append((h, prev + 1, min(h, length - 1)))
        prev = h
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def score_case(truth: Truth, pred: Prediction) -> dict:
    """All metrics of one run (floats; NaN where a metric does not apply)."""
    if pred.error:
        return {"error": pred.error}
    T = len(truth)
    cap = PSNR_CAP_DB
    frame_psnr = [psnr(pred.rgb[t], truth.rgb[t], cap_db=cap) for t in range(T)]
    frame_ssim = [ssim(pred.rgb[t], truth.rgb[t]) for t in range(T)]
    out: dict = {"frames": T, "steps_per_s": pred.steps_per_s, "memory_mb": pred.memory_bytes / 2**20}
    for h, a, b in horizon_buckets(T):
        out[f"psnr@{h}"] = _mean(frame_psnr[a : b + 1])
        out[f"ssim@{h}"] = _mean(frame_ssim[a : b + 1])
        out[f"sharp@{h}"] = sharpness_ratio(pred.rgb[a : b + 1], truth.rgb[a : b + 1])
    if pred.tf_rgb is not None:
        out["tf_psnr"] = _mean([psnr(pred.tf_rgb[t], truth.rgb[t], cap_db=cap) for t in range(1, T)])
        out["tf_ssim"] = _mean([ssim(pred.tf_rgb[t], truth.rgb[t]) for t in range(1, T)])
    else:  # the engine: its next frame is the truth itself
        out["tf_psnr"], out["tf_ssim"] = out.get("psnr@1", float("nan")), out.get("ssim@1", float("nan"))
    errs = [depth_error(pred.depth[t], truth.depth[t]) for t in range(1, T)]
    out["depth_absrel"] = _mean([e.abs_rel for e in errs])
    out["depth_delta1"] = _mean([e.delta1 for e in errs])
    out["depth_coverage"] = _mean([e.coverage for e in errs])
    out["flicker"] = temporal_flickering(pred.rgb)
    if truth.case.scenario.name == "loop_back":
        out["memory_symmetry"] = memory_symmetry(pred.rgb).score
        out["memory_symmetry_truth"] = memory_symmetry(truth.rgb).score
    pairs = find_revisits(truth.poses, RevisitConfig())
    if len(pairs):
        rc = revisit_consistency(pred.rgb, truth.rgb, pairs).mean()
        out |= {f"revisit_{k}": v for k, v in rc.items()}
    motion = estimate_trajectory(pred.rgb, truth.K, depth=pred.depth, config=MotionConfig())
    ta = trajectory_accuracy(motion.poses, truth.poses, valid=motion.valid, translated=motion.translated)
    ce = camera_errors(motion.poses, truth.poses)
    out |= {
        "trajectory_accuracy": ta.score,
        "trajectory_accurate": float(ta.accurate),  # the paper's binary TA; its mean over cases is TA
        "rot_err": ce.rot_err,
        "trans_err": ce.trans_err,
        "cam_mc": ce.cam_mc,
    }
    return out
