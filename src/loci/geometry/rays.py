"""Per-pixel rays: pixel grids, raymaps (DeepVerse A.2) and their inverse (Algorithm 2), Plücker maps."""

from __future__ import annotations

import torch

from .checks import check_intrinsics, check_pose, check_size, check_trailing
from .intrinsics import rescale_intrinsics
from .se3 import hat, make_pose


def pixel_centers(size: tuple[int, int], dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Homogeneous pixel centres ``(H, W, 3)`` = ``(j + 0.5, i + 0.5, 1)`` for row i, column j."""
    h, w = check_size(size)
    v, u = torch.meshgrid(
        torch.arange(h, dtype=dtype, device=device) + 0.5,
        torch.arange(w, dtype=dtype, device=device) + 0.5,
        indexing="ij",
    )
    return torch.stack([u, v, torch.ones_like(u)], -1)


def _camera_rays(K: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Unchecked :func:`camera_rays`."""
    p = pixel_centers(size, K.dtype, K.device)
    K_inv = torch.linalg.inv(K)
    return torch.einsum("...ij,hwj->...hwi", K_inv, p)


def camera_rays(K: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Ray directions in the camera frame ``(..., H, W, 3)`` with ``z = 1`` (so ``depth * ray`` is the point)."""
    return _camera_rays(check_intrinsics(K), check_size(size))


def world_rays(K: torch.Tensor, c2w: torch.Tensor, size: tuple[int, int], normalize: bool = True):
    """Ray origins and directions in the world frame, each ``(..., H, W, 3)``.

    With ``normalize=False`` the directions keep camera-frame ``z = 1``, so ``origin + depth * dir``
    is the world point of a pixel with z-depth ``depth``.
    """
    check_intrinsics(K)
    check_pose(c2w, "c2w")
    d_cam = _camera_rays(K, check_size(size))
    R = c2w[..., :3, :3]
    d = torch.einsum("...ij,...hwj->...hwi", R, d_cam)
    if normalize:
        d = d / d.norm(dim=-1, keepdim=True)
    o = c2w[..., None, None, :3, 3].expand_as(d)
    return o, d


def raymap(K: torch.Tensor, c2w: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """DeepVerse raymap ``(..., 6, H, W)``: ray origin (3, the camera centre) then unit direction (3)."""
    o, d = world_rays(K, c2w, size, normalize=True)
    return torch.cat([o, d], -1).movedim(-1, -3)


def camera_from_raymap(rm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Recover ``(K (..., 3, 3), c2w (..., 4, 4))`` from a raymap ``(..., 6, H, W)`` (DeepVerse Alg. 2).

    The camera centre is the mean ray origin. Directions satisfy ``d ∝ M p`` with ``M = R K⁻¹`` for
    homogeneous pixel centres ``p``; ``M`` is the null vector of the stacked cross-product
    constraints ``d × (M p) = 0`` (a DLT solved in float64), and the QR decomposition
    ``M = R · K⁻¹`` (orthogonal × upper triangular) splits it into rotation and intrinsics.
    Exact to float tolerance for any pinhole camera, including skew and off-centre principal points.
    """
    check_trailing(rm, "raymap", (6, None, None))
    h, w = rm.shape[-2:]
    dtype = rm.dtype
    r = rm.to(torch.float64)
    origin = r[..., :3, :, :].mean(dim=(-1, -2))
    d = r[..., 3:, :, :].flatten(-2).transpose(-1, -2)  # (..., N, 3)
    if bool((d.norm(dim=-1) < 1e-8).any()):
        raise ValueError("raymap has zero-length ray directions")
    p = pixel_centers((h, w), torch.float64, rm.device).reshape(-1, 3)  # (N, 3)
    # d × (M p) = hat(d) @ kron(I, pᵀ) @ vec(M); A_n = hat(d_n) ⊗ p_n (3 × 9)
    A = torch.einsum("...nij,nk->...nijk", hat(d), p).flatten(-2)  # (..., N, 3, 9)
    AtA = torch.einsum("...nij,...nik->...jk", A, A)
    _, vecs = torch.linalg.eigh(AtA)
    M = vecs[..., :, 0].reshape(*vecs.shape[:-2], 3, 3)
    # Sign: rays must point along +M p.
    sign = torch.sign(torch.einsum("...nk,...nk->...", d, torch.einsum("...ij,nj->...ni", M, p)))
    M = M * sign[..., None, None]
    Q, U = torch.linalg.qr(M)
    s = torch.sign(torch.diagonal(U, dim1=-2, dim2=-1))
    Q = Q * s[..., None, :]
    U = U * s[..., :, None]
    K = torch.linalg.inv(U)
    K = K / K[..., 2:3, 2:3]
    if bool((torch.linalg.det(Q) < 0).any()):
        raise ValueError("raymap directions are mirrored: not a right-handed pinhole camera")
    return K.to(dtype), make_pose(Q, origin).to(dtype)


def plucker(K: torch.Tensor, c2w: torch.Tensor, size: tuple[int, int], stride: int = 1) -> torch.Tensor:
    """Plücker ray embedding ``(..., 6, H/stride, W/stride)``: unit direction ``d``, then moment ``o × d``.

    With ``stride > 1`` the rays pass through the centres of ``stride × stride`` pixel blocks, i.e.
    the embedding is exact at the latent resolution of a ``stride``-times downsampling encoder.
    """
    h, w = check_size(size)
    if stride < 1 or h % stride or w % stride:
        raise ValueError(f"stride {stride} must be >= 1 and divide the image size {(h, w)}")
    small = (h // stride, w // stride)
    K_small = rescale_intrinsics(K, (h, w), small) if stride > 1 else K
    o, d = world_rays(K_small, c2w, small, normalize=True)
    m = torch.linalg.cross(o, d)
    return torch.cat([d, m], -1).movedim(-1, -3)
