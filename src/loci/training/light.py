"""Fitting a world's distance light falloff (:class:`~loci.memory.light.LightFalloff`) on its engine data.

For random pairs of frames ``(s, t)`` of one episode, every pixel of ``t`` is traced back into ``s``
with the true depths and poses (:func:`~loci.geometry.backward_warp`, occluded pixels dropped), so
one surface point gives its brightness at two camera distances: ``log I_t - log I_s`` should be
``log b(d_t) - log b(d_s)``, with ``log b`` piecewise linear in ``log d`` as the memory interpolates
it. The knots are fitted to all such pixel pairs by a robust (L1, iteratively reweighted) least
squares, robust to warp errors and animated textures, with ``b = 1`` at the nearest knot and a small
second-difference penalty for knots with little data. ``loci train light --config configs/light_doom.json`` writes the falloff.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from loci.data.episode import Episode, list_episodes
from loci.geometry import backward_warp
from loci.io.atomic import atomic_path
from loci.io.configs import config_from_json
from loci.memory.light import LightFalloff


@dataclass(frozen=True)
class LightFitConfig:
    """data_dir: episodes of one world (training levels only). out: the falloff file (safetensors).
    name: the world's name, stored in the file. levels: fit on these levels' episodes only (empty: all). min_depth_m / max_depth_m / knots: the log-spaced
    knots of ``log b``. pairs_per_episode / max_gap: frame pairs drawn per episode, at most this many
    frames apart. pixels_per_pair: random pixels kept per pair. min_intensity: darker pixels (of 255,
    in either frame) are dropped (their ratio is quantisation noise). min_samples: pixel pairs whose
    depths differ by at least ``min_log_ratio`` (in log) the fit needs. smoothness: weight of the
    squared second differences of ``log b``, relative to the data's total weight. irls_iterations /
    irls_floor: the robust (L1) solve's reweighting rounds and its smallest residual."""

    data_dir: str
    out: str
    name: str = ""
    levels: tuple[str, ...] = ()
    min_depth_m: float = 0.5
    max_depth_m: float = 40.0
    knots: int = 16
    pairs_per_episode: int = 12
    max_gap: int = 40
    pixels_per_pair: int = 4000
    min_intensity: float = 8.0
    min_samples: int = 1000
    min_log_ratio: float = 0.1
    smoothness: float = 0.01
    irls_iterations: int = 8
    irls_floor: float = 0.02
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_depth_m < self.max_depth_m:
            raise ValueError(f"LightFitConfig needs 0 < min_depth_m < max_depth_m, got {self}")
        if self.knots < 2 or self.pairs_per_episode < 1 or self.max_gap < 1 or self.pixels_per_pair < 1:
            raise ValueError(f"LightFitConfig needs knots >= 2 and positive counts, got {self}")


def load_light_config(path: str | os.PathLike) -> LightFitConfig:
    """Read a :class:`LightFitConfig` from JSON."""
    return config_from_json(LightFitConfig, path)


def pair_samples(
    ep: Episode, s: int, t: int, cfg: LightFitConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(d_s, d_t, log I_t - log I_s)`` ``(M,)`` each for pixels of frame ``t`` seen unoccluded in ``s``."""
    rgb_s, rgb_t = np.asarray(ep.rgb[s], np.float32), np.asarray(ep.rgb[t], np.float32)
    dep_s, dep_t = np.asarray(ep.depth[s], np.float32), np.asarray(ep.depth[t], np.float32)
    src = torch.from_numpy(np.concatenate([rgb_s.transpose(2, 0, 1), dep_s[None]], 0))
    K, P = np.asarray(ep.K[[s, t]], np.float32), np.asarray(ep.poses[[s, t]], np.float32)
    r = backward_warp(
        src,
        torch.from_numpy(dep_t),
        torch.from_numpy(K[1]),
        torch.from_numpy(P[1]),
        torch.from_numpy(K[0]),
        torch.from_numpy(P[0]),
        depth_src=torch.from_numpy(dep_s),
    )
    f, m = r.features.numpy(), r.mask.numpy()
    i_s, i_t = f[:3].mean(0)[m], rgb_t.mean(-1)[m]
    d_s, d_t = f[3][m], dep_t[m]
    ok = (i_s > cfg.min_intensity) & (i_t > cfg.min_intensity) & (d_s > 0) & (d_t > 0)
    idx = np.flatnonzero(ok)
    if len(idx) > cfg.pixels_per_pair:
        idx = rng.choice(idx, cfg.pixels_per_pair, replace=False)
    return d_s[idx], d_t[idx], np.log(i_t[idx] / i_s[idx])


def hat_weights(log_depth: np.ndarray, log_knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear-interpolation weights of ``log_depth (M,)`` on the knots (clamped to their range), as
    :meth:`LightFalloff.log_b` interpolates: knot indices ``(M, 2)`` and weights ``(M, 2)``."""
    x = np.clip(log_depth, log_knots[0], log_knots[-1])
    i = np.clip(np.searchsorted(log_knots, x, side="right"), 1, len(log_knots) - 1)
    f = (x - log_knots[i - 1]) / (log_knots[i] - log_knots[i - 1])
    return np.stack([i - 1, i], 1), np.stack([1 - f, f], 1)


def solve_falloff(
    log_d_s: np.ndarray, log_d_t: np.ndarray, ratio: np.ndarray, log_knots: np.ndarray, cfg: LightFitConfig
) -> np.ndarray:
    """``beta (n,)`` = ``log b`` at the knots minimising ``sum |ratio - (log b(d_t) - log b(d_s))|``
    (iteratively reweighted least squares: robust to warp errors and animated textures), with
    ``beta[0] = 0`` and ``cfg.smoothness`` times the data weight on squared second differences."""
    n = len(log_knots)
    it, wt = hat_weights(log_d_t, log_knots)
    is_, ws = hat_weights(log_d_s, log_knots)
    idx = np.concatenate([it, is_], 1)  # (M, 4): each sample's row has four entries
    val = np.concatenate([wt, -ws], 1)
    second = np.diff(np.eye(n), 2, axis=0)
    beta = np.zeros(n)
    w = np.ones(len(ratio))
    for _ in range(cfg.irls_iterations):
        normal = np.zeros(n * n)
        rhs = np.zeros(n)
        for p in range(4):
            rhs += np.bincount(idx[:, p], weights=w * val[:, p] * ratio, minlength=n)
            for q in range(4):
                normal += np.bincount(
                    idx[:, p] * n + idx[:, q], weights=w * val[:, p] * val[:, q], minlength=n * n
                )
        normal = normal.reshape(n, n) + cfg.smoothness * w.sum() * second.T @ second
        normal[0, :], normal[:, 0], normal[0, 0], rhs[0] = 0.0, 0.0, 1.0, 0.0  # beta[0] = 0
        beta = np.linalg.solve(normal, rhs)
        resid = ratio - (val * beta[idx]).sum(1)
        w = 1.0 / np.maximum(np.abs(resid), cfg.irls_floor)
    return beta


def fit_light_falloff(cfg: LightFitConfig) -> tuple[LightFalloff, dict]:
    """Fit on ``cfg.data_dir``; returns the falloff and a report (samples, residuals, brightness by knot)."""
    episodes = list_episodes(cfg.data_dir)
    if cfg.levels:
        episodes = [p for p in episodes if Episode(p).meta.level in cfg.levels]
    if not episodes:
        raise ValueError(
            f"no episodes in {cfg.data_dir}" + (f" on levels {list(cfg.levels)}" if cfg.levels else "")
        )
    rng = np.random.default_rng(cfg.seed)
    log_knots = np.linspace(math.log(cfg.min_depth_m), math.log(cfg.max_depth_m), cfg.knots)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for path in tqdm(episodes, desc="light falloff", unit="episode", disable=not cfg.progress):
        ep = Episode(path)
        T = len(ep)
        if T < 2:
            continue
        for _ in range(cfg.pairs_per_episode):
            s = int(rng.integers(0, T))
            t = int(np.clip(s + rng.integers(-cfg.max_gap, cfg.max_gap + 1), 0, T - 1))
            if s != t:
                parts.append(pair_samples(ep, s, t, cfg, rng))
    d_s, d_t, ratio = (np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(3))
    log_s, log_t = np.log(d_s), np.log(d_t)
    apart = np.abs(log_t - log_s) >= cfg.min_log_ratio
    if apart.sum() < cfg.min_samples:
        raise ValueError(
            f"too few pixel pairs seen from different distances to fit a light falloff ({int(apart.sum())} "
            f"< min_samples={cfg.min_samples}); give more episodes or longer ones"
        )
    beta = solve_falloff(log_s, log_t, ratio.astype(np.float64), log_knots, cfg)
    it, wt = hat_weights(log_t, log_knots)
    is_, ws = hat_weights(log_s, log_knots)
    resid = ratio - ((wt * beta[it]).sum(1) - (ws * beta[is_]).sum(1))
    report = {
        "samples": len(ratio),
        "samples_apart": int(apart.sum()),
        "median_abs_residual": float(np.median(np.abs(resid))),
        "median_abs_ratio": float(np.median(np.abs(ratio))),
        "knots_m": np.exp(log_knots).round(3).tolist(),
        "brightness": np.exp(beta).round(4).tolist(),
    }
    return LightFalloff(torch.from_numpy(log_knots), torch.from_numpy(beta), cfg.name), report


def save_light_falloff(light: LightFalloff, path: str | os.PathLike) -> Path:
    """Write ``light`` to ``path`` (safetensors, atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(light.state_dict(), str(tmp), metadata=light.metadata())
    return path


def train_light(cfg: LightFitConfig) -> Path:
    """``loci train light``: fit, print the report, write ``cfg.out``."""
    light, report = fit_light_falloff(cfg)
    print(
        f"light falloff of {cfg.name or cfg.data_dir}: {report['samples']} pixel pairs "
        f"({report['samples_apart']} seen from different distances); median |log brightness ratio| "
        f"{report['median_abs_ratio']:.3f} unmodelled, {report['median_abs_residual']:.3f} after the falloff"
    )
    for d, b in zip(report["knots_m"], report["brightness"], strict=True):
        print(f"  b({d:6.2f} m) = {b:.3f}")
    return save_light_falloff(light, cfg.out)
