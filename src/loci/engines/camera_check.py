"""The camera-model check: warp frame t into frame t+k with the engine's own depth and poses.

On a static scene, correct conventions (intrinsics, pose axes, depth scale, pitch model) make the
warped frame agree with the real one on co-visible pixels; a wrong convention shows up at once as a
PSNR drop of 10 dB or more. This guards every geometry convention in loci.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from loci.geometry import forward_warp

from .observation import Observation


@dataclass(frozen=True)
class WarpCheck:
    """PSNR (dB) of the warped source against the target on valid pixels, and the valid fraction."""

    psnr: float
    valid_fraction: float


def warp_psnr(src: Observation, tgt: Observation, min_valid: float = 0.05) -> WarpCheck:
    """Forward-warp ``src`` into ``tgt``'s camera (nearest splat) and compare on the warp's valid pixels.

    Pixels with unknown depth in the target (0) are excluded too. Raises ``ValueError`` when fewer
    than ``min_valid`` of the pixels are comparable (the two views share too little).
    """
    rgb = torch.from_numpy(src.rgb).permute(2, 0, 1).float() / 255
    out = forward_warp(
        rgb,
        torch.from_numpy(src.depth),
        torch.from_numpy(src.K),
        torch.from_numpy(src.pose),
        torch.from_numpy(tgt.K),
        torch.from_numpy(tgt.pose),
        size=tgt.size,
    )
    mask = out.mask & torch.from_numpy(tgt.depth > 0)
    frac = float(mask.float().mean())
    if frac < min_valid:
        raise ValueError(f"only {frac:.1%} of the pixels are co-visible; pick closer frames")
    target = torch.from_numpy(tgt.rgb).permute(2, 0, 1).float() / 255
    mse = float(((out.features - target) ** 2).mean(0)[mask].mean())
    return WarpCheck(10 * float(np.log10(1 / max(mse, 1e-10))), frac)
