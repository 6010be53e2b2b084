"""Trajectory metrics: WorldScape's Trajectory Accuracy and CamI2V's RotErr / TransErr / CamMC.

Inputs are camera-to-world poses ``(T, 4, 4)`` in loci's convention (OpenCV camera axes); the
estimated trajectory typically comes from :func:`loci.eval.camera.estimate_trajectory` run on the
generated frames, the reference from the requested controls or the engine's truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .poses import check_poses, rebase, rotation_angle, rotation_vector, step_motions


@dataclass(frozen=True)
class TrajectoryAccuracyConfig:
    """Settings of :func:`trajectory_accuracy`.

    threshold: WorldScape's tau (a trajectory is *accurate* when its mean similarity reaches it).
    absolute: the paper's ``|t_gen . t_tgt|``, which cannot tell a motion from its reverse (a left
        turn from a right turn); ``False`` uses the signed cosine (in [-1, 1]) instead.
    frame: ``"camera"`` compares each step's motion in the camera axes of frame t
        (``P_t^{-1} P_{t+1}``); ``"world"`` compares the paper's literal ``t_{t+1} - t_t`` and the
        world-axes rotation ``R_{t+1} R_t^T``, which also charges for heading drift.
    still_translation: a step's translation counts as zero when its norm is at most this fraction
        of the trajectory's largest step translation (so scale-free estimates compare with metric ones).
    still_rotation_deg: a step's rotation counts as zero below this angle.
    """

    threshold: float = 0.55
    absolute: bool = True
    frame: Literal["camera", "world"] = "camera"
    still_translation: float = 0.1
    still_rotation_deg: float = 2.0


@dataclass(frozen=True, eq=False)
class TrajectoryAccuracy:
    """``score``: mean per-step similarity; ``accurate``: ``score >= threshold`` (the paper's binary
    Trajectory Accuracy, averaged over videos by the benchmark); ``per_step (T-1,)`` similarity in
    [0, 1] (signed: [-1, 1]); ``translation (T-1,)`` / ``rotation (T-1,)``: its two halves."""

    score: float
    accurate: bool
    per_step: np.ndarray
    translation: np.ndarray
    rotation: np.ndarray


def step_vectors(
    poses: np.ndarray, frame: Literal["camera", "world"] = "camera"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step 6-DoF motion of ``poses (T, 4, 4)``: translations ``(T-1, 3)`` and rotation vectors
    ``(T-1, 3)`` (radians), in the camera axes of frame t or in world axes (see the config)."""
    p = check_poses(poses)
    if frame == "camera":
        m = step_motions(p)
        return m[:, :3, 3], rotation_vector(m[:, :3, :3])
    if frame == "world":
        r = p[1:, :3, :3] @ np.swapaxes(p[:-1, :3, :3], -1, -2)
        return p[1:, :3, 3] - p[:-1, :3, 3], rotation_vector(r)
    raise ValueError(f"frame must be 'camera' or 'world', got {frame!r}")


def _cosine(
    a: np.ndarray, b: np.ndarray, still_a: np.ndarray, still_b: np.ndarray, absolute: bool
) -> np.ndarray:
    """Row cosines ``(N,)``; 1 where both rows are still, 0 where exactly one is."""
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    moving = ~still_a & ~still_b
    cos = np.zeros(len(a))
    cos[moving] = (a[moving] * b[moving]).sum(-1) / (na[moving] * nb[moving])
    cos = np.abs(cos) if absolute else cos
    cos[still_a & still_b] = 1.0
    return cos


def _still_translation(t: np.ndarray, fraction: float) -> np.ndarray:
    n = np.linalg.norm(t, axis=-1)
    top = n.max(initial=0.0)
    return n <= fraction * top if top > 0 else np.ones(len(t), dtype=bool)


def trajectory_accuracy(
    estimated: np.ndarray,
    reference: np.ndarray,
    valid: np.ndarray | None = None,
    config: TrajectoryAccuracyConfig | None = None,
    translated: np.ndarray | None = None,
) -> TrajectoryAccuracy:
    """WorldScape A.1.1 Trajectory Accuracy of ``estimated`` vs ``reference`` poses ``(T, 4, 4)``.

    ``sim_t = (|cos(t_gen, t_tgt)| + |cos(r_gen, r_tgt)|) / 2`` per step, averaged over the ``T-1``
    steps. Interpretations (the paper's ``Delta P = P_{t+1} - P_t`` of 3x4 matrices has no rotation
    to take Euler angles from): ``r`` is the axis-angle vector of the step's relative rotation
    (equal to small Euler angles to first order, and free of an axis order); ``t`` and ``r`` are in
    the camera axes of frame t by default (see :class:`TrajectoryAccuracyConfig`). Zero vectors,
    where the cosine is undefined, compare as 1 when both sides are still and 0 when only one is.
    ``valid (T-1,)`` bool (from the estimator) scores the steps it could not estimate 0.
    ``translated (T-1,)`` bool (from the estimator): which estimated steps translate. Without it a
    step's estimated translation is still when under ``still_translation`` of the largest one,
    which a single outlier step (a bad PnP fit ten times too long) turns into "every other step is
    still"; the estimator's per-step parallax test has no such coupling.
    """
    cfg = config or TrajectoryAccuracyConfig()
    e, r = check_poses(estimated), check_poses(reference)
    if e.shape != r.shape or len(e) < 2:
        raise ValueError(f"trajectories must be (T>=2, 4, 4) of equal length, got {e.shape} and {r.shape}")
    te, re_ = step_vectors(e, cfg.frame)
    tr, rr = step_vectors(r, cfg.frame)
    still_r = math.radians(cfg.still_rotation_deg)
    if translated is not None and np.shape(translated) != (len(te),):
        raise ValueError(f"translated must be ({len(te)},) bool, got shape {np.shape(translated)}")
    cos_t = _cosine(
        te,
        tr,
        _still_translation(te, cfg.still_translation)
        if translated is None
        else ~np.asarray(translated, dtype=bool),
        _still_translation(tr, cfg.still_translation),
        cfg.absolute,
    )
    cos_r = _cosine(
        re_, rr, np.linalg.norm(re_, axis=-1) < still_r, np.linalg.norm(rr, axis=-1) < still_r, cfg.absolute
    )
    sim = (cos_t + cos_r) / 2
    if valid is not None:
        sim = np.where(np.asarray(valid, dtype=bool), sim, 0.0)
    score = float(sim.mean())
    return TrajectoryAccuracy(score, score >= cfg.threshold, sim, cos_t, cos_r)


@dataclass(frozen=True, eq=False)
class CameraErrors:
    """CamI2V's camera metrics (sums over the frames, lower is better): ``rot_err`` (radians),
    ``trans_err`` and ``cam_mc`` (unit-free, after scale normalisation); per frame ``(T,)`` in
    ``rot_per_frame``, ``trans_per_frame``, ``cam_mc_per_frame``."""

    rot_err: float
    trans_err: float
    cam_mc: float
    rot_per_frame: np.ndarray
    trans_per_frame: np.ndarray
    cam_mc_per_frame: np.ndarray


def normalize_translation(poses: np.ndarray) -> np.ndarray:
    """Poses rebased on frame 0 with translations divided by the largest distance from frame 0
    (CamI2V's ``normalize_t``); a trajectory that never moves is left as is. ``(T, 4, 4)``."""
    p = rebase(check_poses(poses))
    scale = np.linalg.norm(p[:, :3, 3], axis=-1).max()
    if scale > 0:
        p[:, :3, 3] /= scale
    return p


def camera_errors(estimated: np.ndarray, reference: np.ndarray) -> CameraErrors:
    """RotErr, TransErr, CamMC of CamI2V (its ``glomap_evaluation.metric``, relative variant).

    Both trajectories ``(T, 4, 4)`` are rebased on their first frame (``P_0^{-1} P_j``), then per
    frame j: RotErr_j = geodesic angle of ``R_est^T R_ref``; TransErr_j = ``||t_est - t_ref||_2``
    and CamMC_j = ``||[R|t]_est - [R|t]_ref||_F`` (3x4), with each trajectory's translations
    divided by its own largest distance from frame 0 (so a scale-free estimate is comparable and
    both are invariant to a global scale). Each is summed over the T frames (frame 0 adds 0).
    """
    e, r = check_poses(estimated), check_poses(reference)
    if e.shape != r.shape:
        raise ValueError(f"trajectories must have equal shapes, got {e.shape} and {r.shape}")
    e, r = normalize_translation(e), normalize_translation(r)
    rot = rotation_angle(np.swapaxes(e[:, :3, :3], -1, -2) @ r[:, :3, :3])
    trans = np.linalg.norm(e[:, :3, 3] - r[:, :3, 3], axis=-1)
    mc = np.linalg.norm((e[:, :3, :4] - r[:, :3, :4]).reshape(len(e), 12), axis=-1)
    return CameraErrors(float(rot.sum()), float(trans.sum()), float(mc.sum()), rot, trans, mc)
