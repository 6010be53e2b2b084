"""Memory conditions of training windows: the warped latents equal loci.geometry.forward_warp of the
earlier frame (an independent path through the public API), clean conditions on a static camera
return the latents themselves, and degradations only ever remove or blur what the memory shows."""

import math

import torch

from loci.data.degrade import DegradeConfig
from loci.geometry import forward_warp, intrinsics_from_fov
from loci.geometry.se3 import make_pose, so3_exp
from loci.memory.latent import block_depth, latent_intrinsics, memory_condition
from loci.training.memory_conditions import window_memory_conditions

H, W, F = 24, 32, 4
h, w = H // F, W // F


def window(yaw_deg: float = 8.0, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1, 2, 5, h, w, generator=g)
    depth = 2 + 3 * torch.rand(1, 2, H, W, generator=g)
    K = intrinsics_from_fov((H, W), fov_x_deg=90.0).expand(1, 2, 3, 3).clone()
    R = so3_exp(torch.tensor([0.0, math.radians(yaw_deg), 0.0]))
    poses = torch.stack([torch.eye(4), make_pose(R, torch.tensor([0.1, 0.0, 0.2]))])[None]
    return z, depth, K, poses


def test_one_source_equals_forward_warp_of_its_latents():
    z, depth, K, poses = window()
    scale = torch.tensor([0.7])
    cond = window_memory_conditions(z, depth, K, poses, scale, [1])
    d0 = block_depth(depth[:, 0], F)
    Kl = latent_intrinsics(K[:, 0], (H, W), F)
    ref = forward_warp(z[:, 0], d0, Kl, poses[:, 0], Kl, poses[:, 1])
    expected = memory_condition(ref, scale)
    assert 0.2 < float(ref.mask.float().mean()) < 1.0  # the yaw leaves part of the view empty
    torch.testing.assert_close(cond[:, 0], expected)


def test_static_camera_gives_back_the_latents_and_no_future_leaks():
    z, depth, K, poses = window()
    poses = poses[:, :1].expand(1, 2, 4, 4).clone()
    cond = window_memory_conditions(z, depth, K, poses, torch.ones(1), [1])
    C = z.shape[2]
    assert bool((cond[0, 0, -1] == 1).all())  # every latent pixel valid
    torch.testing.assert_close(cond[0, 0, :C], z[0, 0])  # frame 0's latents, not frame 1's
    # frame 0 has no earlier frames: an empty memory (all holes)
    empty = window_memory_conditions(z, depth, K, poses, torch.ones(1), [0])
    assert bool((empty[0, 0, :-1] == 0).all()) and bool((empty[0, 0, -1] == -1).all())


def test_degradations_only_remove_or_blur():
    z, depth, K, poses = window()
    clean = window_memory_conditions(z, depth, K, poses, torch.ones(1), [1])
    cfg = DegradeConfig(p_flying_pixels=1.0, p_broad=0.0, p_perturb=1.0, p_drop_mask=1.0)
    g = torch.Generator().manual_seed(3)
    bad = window_memory_conditions(z, depth, K, poses, torch.ones(1), [1], degrade=cfg, generator=g)
    assert bool((bad[0, 0, -1] == 0).all())  # the mask was dropped
    C = z.shape[2]
    shown = bad[0, 0, :C].abs().sum(0) > 0
    assert int(shown.sum()) <= int((clean[0, 0, -1] > 0).sum()) + 2  # culling never adds much
