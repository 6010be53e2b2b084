"""Memory conditions of a training window: the earlier frames' latents warped to each target frame.

At play time the latent memory holds every frame generated so far and is rendered at the pose of the
frame being generated. In a training window the memory of target frame ``i`` is the window's frames
before ``i``'s chunk (their clean latents, lifted with their degraded depth), rendered at frame ``i``'s
camera, with NeoVerse's degradations (``loci.data.degrade``) drawn per target.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from loci.data.degrade import DegradeConfig, degrade_depth, perturb_poses
from loci.memory.latent import block_depth, latent_intrinsics, lift, memory_condition, render_points


def window_memory_conditions(
    latents: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    poses: torch.Tensor,
    scale: torch.Tensor,
    targets: Sequence[int],
    chunk_frames: int = 1,
    degrade: DegradeConfig | None = None,
    lam: float = 0.9,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Memory channels ``(B, N, C + 2, h, w)`` for frames ``targets`` (N of them) of each window.

    latents ``(B, T, C, h, w)``; depth ``(B, T, H, W)`` metres (``H = f·h``); K ``(B, T, 3, 3)`` pixel
    intrinsics; poses ``(B, T, 4, 4)`` camera-to-world (one frame per window); scale ``(B,)`` the
    tokenizer's depth scale of each window. ``degrade=None``: clean conditions.
    """
    B, T, C, h, w = latents.shape
    H, W = depth.shape[-2:]
    f = H // h
    if (H, W) != (f * h, f * w):
        raise ValueError(f"depth {(H, W)} is not an integer upsampling of latents {(h, w)}")
    targets = list(targets)
    N = len(targets)
    cfg = degrade or DegradeConfig(p_flying_pixels=0.0, p_broad=0.0, p_perturb=0.0, p_drop_mask=0.0)
    d = degrade_depth(depth.flatten(0, 1).float(), cfg, generator).view(B, T, H, W)
    d_lat = block_depth(d, f)  # (B, T, h, w)
    K_lat = latent_intrinsics(K.float(), (H, W), f)  # (B, T, 3, 3)
    n = h * w
    xyz = lift(d_lat.flatten(0, 1), K_lat.flatten(0, 1), poses.float().flatten(0, 1)).view(B, T * n, 3)
    feats = latents.permute(0, 1, 3, 4, 2).reshape(B, T * n, C)
    known = (d_lat > 0).reshape(B, T, n)
    frame = torch.arange(T)
    first_of_chunk = torch.as_tensor([i - i % chunk_frames for i in targets])
    sources = frame[None, :] < first_of_chunk[:, None]  # (N, T): frames strictly before the target's chunk
    valid = (known[:, None] & sources[None, :, :, None]).reshape(B * N, T * n)

    def per_target(x: torch.Tensor) -> torch.Tensor:
        return x[:, None].expand(B, N, *x.shape[1:]).reshape(B * N, *x.shape[1:])

    K_t = K_lat[:, targets].reshape(B * N, 3, 3)
    c2w_t = poses.float()[:, targets].reshape(B * N, 4, 4)
    cull = None
    if cfg.p_perturb > 0:
        pick = torch.rand(B * N, generator=generator) < cfg.p_perturb
        moved = perturb_poses(c2w_t, cfg.perturb_rot_deg, cfg.perturb_trans_m, generator)
        cull = torch.where(pick[:, None, None], moved, c2w_t)
    rendered = render_points(per_target(xyz), per_target(feats), valid, K_t, c2w_t, (h, w), cull)
    mask_known = torch.rand(B * N, generator=generator) >= cfg.p_drop_mask
    cond = memory_condition(rendered, scale.float().repeat_interleave(N), lam, mask_known)
    return cond.view(B, N, C + 2, h, w)
