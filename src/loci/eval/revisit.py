"""Revisit consistency: when a trajectory comes back to a pose, does the model show the same place?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import PSNR_CAP_DB, psnr, ssim
from .poses import check_poses, rotation_angle


@dataclass(frozen=True)
class RevisitConfig:
    """A revisit: camera centres within ``max_translation`` (m), view rotations within
    ``max_rotation_deg``, and more than ``min_gap`` frames apart."""

    max_translation: float = 0.25
    max_rotation_deg: float = 10.0
    min_gap: int = 10


def find_revisits(poses: np.ndarray, config: RevisitConfig | None = None) -> np.ndarray:
    """Revisit pairs of camera-to-world ``poses (T, 4, 4)`` -> ``(P, 2)`` int ``(i, j)``, ``i < j``.

    For each later frame ``j``, the earlier frame ``i`` (``j - i > min_gap``) within both thresholds
    whose pose is nearest (translation distance, ties by rotation): at most one pair per ``j``,
    sorted by ``j``.
    """
    cfg = config or RevisitConfig()
    p = check_poses(poses)
    t = p[:, :3, 3]
    dist = np.linalg.norm(t[:, None] - t[None], axis=-1)
    rel = np.einsum("iba,jbc->ijac", p[:, :3, :3], p[:, :3, :3])  # R_i^T R_j
    ang = np.degrees(rotation_angle(rel))
    idx = np.arange(len(p))
    ok = (dist < cfg.max_translation) & (ang < cfg.max_rotation_deg)
    ok &= idx[None, :] - idx[:, None] > cfg.min_gap  # [i, j]: j later than i by more than min_gap
    pairs = []
    for j in idx:
        cand = np.flatnonzero(ok[:, j])
        if len(cand):
            best = cand[np.lexsort((ang[cand, j], dist[cand, j]))[0]]
            pairs.append((int(best), int(j)))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True, eq=False)
class RevisitConsistency:
    """Per pair ``(P,)``: generated frame j vs the true frame j (``*_truth``), vs the generated first
    visit i (``*_first``), and the engine's own true j vs true i (``*_first_truth``: the ceiling of
    ``*_first``, below inf because revisit poses are only near-equal). ``pairs (P, 2)``."""

    pairs: np.ndarray
    psnr_truth: np.ndarray
    ssim_truth: np.ndarray
    psnr_first: np.ndarray
    ssim_first: np.ndarray
    psnr_first_truth: np.ndarray
    ssim_first_truth: np.ndarray

    def mean(self) -> dict[str, float]:
        """Means over the pairs (NaN when there are none); PSNRs capped at :data:`PSNR_CAP_DB`."""
        names = (
            "psnr_truth",
            "ssim_truth",
            "psnr_first",
            "ssim_first",
            "psnr_first_truth",
            "ssim_first_truth",
        )
        return {n: float(np.mean(getattr(self, n))) if len(self.pairs) else float("nan") for n in names}


def revisit_consistency(
    generated: np.ndarray, true: np.ndarray, pairs: np.ndarray, cap_db: float = PSNR_CAP_DB
) -> RevisitConsistency:
    """PSNR/SSIM at revisits: ``generated``, ``true`` ``(T, H, W, 3)`` uint8; ``pairs (P, 2)`` from
    :func:`find_revisits`. PSNRs are capped at ``cap_db`` so that means stay finite."""
    g, t = np.asarray(generated), np.asarray(true)
    pr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if g.shape != t.shape:
        raise ValueError(f"generated and true videos differ in shape: {g.shape} vs {t.shape}")

    def both(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ps = np.array([psnr(a[k], b[k], cap_db=cap_db) for k in range(len(a))])
        ss = np.array([ssim(a[k], b[k]) for k in range(len(a))])
        return ps, ss

    i, j = pr[:, 0], pr[:, 1]
    pt, st = both(g[j], t[j])
    pf, sf = both(g[j], g[i])
    pft, sft = both(t[j], t[i])
    return RevisitConsistency(pr, pt, st, pf, sf, pft, sft)
