"""Distance light falloff: remembered colours re-lit for the distance they are shown at.

Some worlds light a surface by how far the camera is from it: Doom's renderer darkens walls and
flats with distance (its "light diminishing": the colormap index grows as the projected scale
shrinks), fog does the same elsewhere. A point memory that keeps the colour a surface had when it
was seen from 8 m shows it up to 2.5× too dark from 2 m (docs/tuning.md, "light_strength", measures it
on ViZDoom's training levels, level by level). :class:`LightFalloff` models the brightness of a surface as
``albedo · b(d)`` for its camera distance ``d``, so a point seen at ``d_seen`` with colour ``c`` is
shown at ``d`` as ``c · b(d) / b(d_seen)``. ``log b`` is piecewise linear in ``log d`` between knots
(constant beyond them), fitted on a world's engine data by :func:`loci.training.light.fit_light_falloff`.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from loci.io.digest import check_finite, check_manifest

FORMAT = "loci.light_falloff"


class LightFalloff:
    """``log_depth (n,)`` strictly increasing knots (log metres), ``log_brightness (n,)`` the log of
    ``b`` there (any offset: only ratios matter). ``name``: the world it was fitted on."""

    def __init__(self, log_depth: torch.Tensor, log_brightness: torch.Tensor, name: str = ""):
        log_depth = torch.as_tensor(log_depth, dtype=torch.float32)
        log_brightness = torch.as_tensor(log_brightness, dtype=torch.float32)
        if log_depth.ndim != 1 or log_depth.shape != log_brightness.shape or len(log_depth) < 2:
            raise ValueError(
                "a light falloff needs log_depth and log_brightness of equal shape (n >= 2,), got "
                f"{tuple(log_depth.shape)} and {tuple(log_brightness.shape)}"
            )
        if not bool(torch.isfinite(log_depth).all() and torch.isfinite(log_brightness).all()):
            raise ValueError("a light falloff's knots and brightness must be finite")
        if not bool((log_depth[1:] > log_depth[:-1]).all()):
            raise ValueError("a light falloff's log_depth knots must increase strictly")
        self.log_depth = log_depth
        self.log_brightness = log_brightness
        self.name = name

    def log_b(self, depth: torch.Tensor) -> torch.Tensor:
        """``log b(depth)`` for any shape of depths (> 0), linear in ``log depth`` between the knots."""
        x = torch.log(depth.float().clamp(min=1e-6)).clamp(self.log_depth[0], self.log_depth[-1])
        i = torch.searchsorted(self.log_depth, x.contiguous(), right=True).clamp(1, len(self.log_depth) - 1)
        x0, x1 = self.log_depth[i - 1], self.log_depth[i]
        y0, y1 = self.log_brightness[i - 1], self.log_brightness[i]
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)

    def gain(self, seen_depth: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """``b(depth) / b(seen_depth)``, broadcast; 1 where either depth is unknown (<= 0)."""
        g = torch.exp(self.log_b(depth) - self.log_b(seen_depth))
        return torch.where((seen_depth > 0) & (depth > 0), g, torch.ones_like(g))

    def scaled(self, strength: float) -> LightFalloff:
        """The falloff ``strength`` times as steep in log brightness (0: flat, nothing re-lit)."""
        return LightFalloff(self.log_depth, self.log_brightness * float(strength), self.name)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"log_depth": self.log_depth.contiguous(), "log_brightness": self.log_brightness.contiguous()}

    def metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "name": self.name}


@dataclass(frozen=True)
class StrengthConfig:
    """How :func:`frame_strength` reads a frame: pixels nearer than ``near_m`` or with luminance at
    most ``dark_luminance`` are left out; ``bins`` quantiles of log falloff, each kept with more than
    ``min_bin_pixels`` pixels; 0 below ``min_pixels`` pixels or a log-falloff span under ``min_span``."""

    near_m: float = 0.3
    dark_luminance: float = 4.0
    bins: int = 8
    min_pixels: int = 500
    min_bin_pixels: int = 50
    min_span: float = 0.2


def frame_strength(
    rgb: torch.Tensor, depth: torch.Tensor, light: LightFalloff, cfg: StrengthConfig | None = None
) -> float:
    """How steeply one frame's brightness falls with depth, in units of ``light``'s falloff: about 1
    in a world lit like the average of the falloff's fit, 0 where nothing dims (a bright Doom sector).

    ``rgb (H, W, 3)`` uint8, ``depth (H, W)`` metres (0 = unknown). Pixels too near, of unknown
    depth or near black are left out (``cfg``, :class:`StrengthConfig`); the rest are split into
    quantiles of ``log b(depth)``, and the slope of the bins' median log luminance against their
    median ``log b`` is the strength (medians: textures average out within a bin). 0 when too few
    pixels are left or their depths span too little of the falloff to tell."""
    cfg = cfg or StrengthConfig()
    lum = torch.as_tensor(rgb).float().mean(-1)
    d = torch.as_tensor(depth).float()
    ok = (d > cfg.near_m) & (lum > cfg.dark_luminance)
    if int(ok.sum()) < cfg.min_pixels:
        return 0.0
    x, y = light.log_b(d[ok]), torch.log(lum[ok])
    edges = torch.quantile(x, torch.linspace(0, 1, cfg.bins + 1))
    xb, yb = [], []
    for lo, hi in itertools.pairwise(edges.tolist()):
        sel = (x >= lo) & (x <= hi)
        if int(sel.sum()) > cfg.min_bin_pixels:
            xb.append(x[sel].median())
            yb.append(y[sel].median())
    if len(xb) < 3:
        return 0.0
    xs, ys = torch.stack(xb), torch.stack(yb)
    if float(xs.max() - xs.min()) < cfg.min_span:
        return 0.0
    xs, ys = xs - xs.mean(), ys - ys.mean()
    return float((xs * ys).sum() / (xs * xs).sum())


def load_light_falloff(path: str | os.PathLike) -> LightFalloff:
    """Read a falloff written by :func:`loci.training.light.save_light_falloff`; ``ValueError`` names
    what is wrong with a missing, corrupt or foreign file."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise ValueError(f"no light falloff at {path}") from None
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a loci light falloff (format {meta.get('format')!r})")
    check_manifest(path)
    check_finite(tensors, str(path))
    missing = {"log_depth", "log_brightness"} - set(tensors)
    if missing:
        raise ValueError(f"{path}: light falloff lacks {sorted(missing)}")
    try:
        return LightFalloff(tensors["log_depth"], tensors["log_brightness"], meta.get("name", ""))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
