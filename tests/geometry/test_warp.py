"""Forward/backward warping and z-buffered splatting against exact renders of the synthetic scene."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.geometry import (
    backward_warp,
    cast_rays,
    forward_warp,
    identity_pose,
    intrinsics_from_fov,
    project,
    render_points,
    rescale_intrinsics,
    unproject,
)
from loci.geometry.splat import MAX_FOOTPRINT_PX
from loci.geometry.synthetic import shade
from tests.geometry.scenes import SCENE, SIZE, K, covisible, pose, view, visible_from

MOTIONS = {
    "turn": pose(yaw=0.15),
    "forward": pose(t=(0.0, 0.0, 0.4)),
    "back": pose(t=(0.0, 0.0, -0.5)),
    "strafe": pose(t=(0.3, 0.0, 0.0)),
    "turn+pitch+move": pose(yaw=-0.2, pitch=0.1, t=(0.2, -0.1, 0.3)),
}
SRC = pose()


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    mse = ((a - b) ** 2).mean(0)[mask].mean()
    return float(10 * torch.log10(1 / mse))


@pytest.mark.parametrize("name", MOTIONS)
def test_projection_chain_is_exact_on_the_scene(name):
    """Every source pixel lifted with its exact depth and projected into the target camera lands on
    a sub-pixel position whose exact ray-cast colour equals the source colour (when visible)."""
    src, tgt = view(SRC), MOTIONS[name]
    pts = unproject(src.depth, K, SRC).reshape(-1, 3)
    seen = visible_from(pts, tgt)
    assert seen.float().mean() > 0.3
    uv, _ = project(pts, K, tgt)
    d_cam = torch.cat([uv, torch.ones_like(uv[:, :1])], -1) @ torch.linalg.inv(K).T
    hits = cast_rays(SCENE, tgt[:3, 3].expand_as(d_cam), d_cam @ tgt[:3, :3].T)
    colour_in_target = shade(SCENE, hits)
    colour_in_source = src.rgb.reshape(3, -1).T
    diff = (colour_in_target[seen] - colour_in_source[seen]).abs().amax(-1)
    # Exact except for points on an edge between two faces (same point, two normals).
    assert float((diff > 2e-4).float().mean()) < 1e-3


@pytest.mark.parametrize("mode,min_psnr", [("nearest", 25.0), ("bilinear", 24.0)])
@pytest.mark.parametrize("name", MOTIONS)
def test_forward_warp_reproduces_exact_render_on_covisible_pixels(name, mode, min_psnr):
    src, tgt_pose = view(SRC), MOTIONS[name]
    tgt = view(tgt_pose)
    out = forward_warp(src.rgb, src.depth, K, SRC, K, tgt_pose, mode=mode)
    cov = covisible(SRC, tgt_pose, tgt.depth)
    m = out.mask & cov
    assert m.sum() > 0.7 * cov.sum() if mode == "bilinear" else m.sum() > 0.5 * cov.sum()
    assert psnr(out.features, tgt.rgb, m) > min_psnr
    rel = ((out.depth - tgt.depth).abs() / tgt.depth)[m]
    assert float(rel.median()) < 0.01
    # Pixels the source cannot see are (nearly all) holes.
    assert float((out.mask & ~cov).float().mean()) < 0.05
    assert not bool(out.features[:, ~out.mask].any())
    assert not bool(out.depth[~out.mask].any())


@pytest.mark.parametrize("name", MOTIONS)
def test_backward_warp_with_exact_depth(name):
    src, tgt_pose = view(SRC), MOTIONS[name]
    tgt = view(tgt_pose)
    out = backward_warp(src.rgb, tgt.depth, K, tgt_pose, K, SRC, depth_src=src.depth)
    cov = covisible(SRC, tgt_pose, tgt.depth)
    assert (out.mask & cov).sum() > 0.9 * cov.sum()
    assert float((out.mask & ~cov).float().mean()) < 0.01
    assert psnr(out.features, tgt.rgb, out.mask & cov) > 29.0


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_identity_warp_is_identity_for_any_channels(mode):
    src = view(SRC)
    latents = torch.randn(16, *SIZE)
    depth = src.depth.clone()
    depth[:5, :7] = 0  # unknown depth stays a hole
    out = forward_warp(latents, depth, K, SRC, K, SRC, mode=mode)
    known = depth > 0
    torch.testing.assert_close(out.mask, known)
    torch.testing.assert_close(out.features[:, known], latents[:, known], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.depth, depth, atol=1e-4, rtol=1e-5)
    back = backward_warp(latents, src.depth, K, SRC, K, SRC)
    torch.testing.assert_close(back.features, latents, atol=2e-4, rtol=0)


def test_latent_warp_at_downsampled_intrinsics_equals_channelwise_warp():
    """A C-channel latent map warps like each of its channels, with the latent-resolution K."""
    src = view(SRC)
    small = (SIZE[0] // 4, SIZE[1] // 4)
    Ks = rescale_intrinsics(K, SIZE, small)
    depth = torch.nn.functional.interpolate(src.depth[None, None], size=small, mode="nearest")[0, 0]
    lat = torch.randn(8, *small)
    tgt = MOTIONS["turn+pitch+move"]
    full = forward_warp(lat, depth, Ks, SRC, Ks, tgt)
    for c in range(0, 8, 3):
        part = forward_warp(lat[c : c + 3], depth, Ks, SRC, Ks, tgt)
        torch.testing.assert_close(part.features, full.features[c : c + 3])
        torch.testing.assert_close(part.mask, full.mask)


def test_batched_warp_equals_per_item():
    src = view(SRC)
    tgts = torch.stack([MOTIONS["turn"], MOTIONS["forward"], MOTIONS["strafe"]]).view(3, 1, 4, 4)
    feats = torch.cat([src.rgb, src.depth[None]], 0)  # (4, H, W): RGB + depth as features
    out = forward_warp(feats.expand(3, 2, 4, *SIZE), src.depth, K, SRC, K, tgts)
    assert out.features.shape == (3, 2, 4, *SIZE) and out.mask.shape == (3, 2, *SIZE)
    for i in range(3):
        one = forward_warp(feats, src.depth, K, SRC, K, tgts[i, 0])
        torch.testing.assert_close(out.features[i, 1], one.features)
        torch.testing.assert_close(out.mask[i, 0], one.mask)


def test_target_size_and_intrinsics_may_differ():
    src = view(SRC)
    K2 = intrinsics_from_fov((30, 40), fov_x_deg=90)
    out = forward_warp(src.rgb, src.depth, K, SRC, K2, SRC, size=(30, 40))
    assert out.features.shape == (3, 30, 40)
    assert float(out.mask.float().mean()) == 1.0


@given(st.integers(0, 10_000))
def test_nearest_splat_keeps_the_nearest_point_per_pixel(seed):
    """Brute-force z-buffer oracle over random points, several per pixel."""
    g = torch.Generator().manual_seed(seed)
    size = (4, 5)
    Ks = intrinsics_from_fov(size, fov_x_deg=90)
    n = 60
    uv = torch.rand(n, 2, generator=g) * torch.tensor([5.0, 4.0])
    z = torch.rand(n, generator=g) * 4 + 0.5
    cam = torch.cat([uv, torch.ones(n, 1)], -1) @ torch.linalg.inv(Ks).T * z[:, None]
    feats = torch.randn(n, 3, generator=g)
    out = render_points(cam, feats, Ks, identity_pose(), size)
    expect = np.zeros((3, *size), dtype=np.float32)
    best = np.full(size, np.inf)
    for i in range(n):
        c, r = int(uv[i, 0]), int(uv[i, 1])
        if z[i] < best[r, c]:
            best[r, c], expect[:, r, c] = float(z[i]), feats[i].numpy()
    hit = np.isfinite(best)
    np.testing.assert_array_equal(out.mask.numpy(), hit)
    np.testing.assert_allclose(out.features.numpy()[:, hit], expect[:, hit], atol=1e-6)
    np.testing.assert_allclose(out.depth.numpy()[hit], best[hit], rtol=1e-6)


@given(st.integers(0, 10_000))
def test_footprints_cover_the_pixel_centres_inside_them(seed):
    """Brute-force oracle: a point with world half-size r at depth z covers every pixel whose centre
    lies within r·f/z (capped at MAX_FOOTPRINT_PX) of it in x and y, plus its own pixel; the
    nearest covering point wins."""
    g = torch.Generator().manual_seed(seed)
    size = (9, 12)
    Ks = intrinsics_from_fov(size, fov_x_deg=90)
    f = float(Ks[0, 0])
    n = 12
    uv = torch.rand(n, 2, generator=g) * torch.tensor([12.0, 9.0])
    z = torch.rand(n, generator=g) * 4 + 0.5
    r = torch.rand(n, generator=g) * 3 * z / f  # 0 to 3 px: some beyond the cap
    cam = torch.cat([uv, torch.ones(n, 1)], -1) @ torch.linalg.inv(Ks).T * z[:, None]
    feats = torch.randn(n, 3, generator=g)
    out = render_points(cam, feats, Ks, identity_pose(), size, radius=r)
    expect = np.zeros((3, *size), dtype=np.float32)
    best = np.full(size, np.inf)
    for i in range(n):
        half = min(float(r[i]) * f / float(z[i]), MAX_FOOTPRINT_PX)
        for row in range(size[0]):
            for col in range(size[1]):
                own = col == int(uv[i, 0]) and row == int(uv[i, 1])
                inside = abs(col + 0.5 - float(uv[i, 0])) <= half and abs(row + 0.5 - float(uv[i, 1])) <= half
                if (own or inside) and z[i] < best[row, col]:
                    best[row, col], expect[:, row, col] = float(z[i]), feats[i].numpy()
    hit = np.isfinite(best)
    np.testing.assert_array_equal(out.mask.numpy(), hit)
    np.testing.assert_allclose(out.features.numpy()[:, hit], expect[:, hit], atol=1e-6)
    np.testing.assert_allclose(out.depth.numpy()[hit], best[hit], rtol=1e-6)
    with pytest.raises(ValueError, match="nearest"):
        render_points(cam, feats, Ks, identity_pose(), size, mode="bilinear", radius=r)


def test_bilinear_splat_does_not_grow_the_foreground():
    """A near square in front of a far wall: bilinear splatting keeps the wall right next to it."""
    size = (20, 20)
    Ks = intrinsics_from_fov(size, fov_x_deg=90)
    depth = torch.full(size, 4.0)
    depth[5:15, 5:15] = 1.0
    feats = (depth < 2).float()[None]
    shifted = identity_pose()
    shifted[0, 3] = 0.05  # small strafe: sub-pixel motion of the near square, less for the wall
    out = forward_warp(feats, depth, Ks, identity_pose(), Ks, shifted, mode="bilinear")
    near = forward_warp(feats, depth, Ks, identity_pose(), Ks, shifted, mode="nearest")
    grown = (out.features[0] > 0.5) & (near.features[0] < 0.5) & near.mask
    assert int(grown.sum()) <= 2


def test_bad_input_raises():
    src = view(SRC)
    with pytest.raises(ValueError, match="differ"):
        forward_warp(src.rgb, src.depth[:-1], K, SRC, K, SRC)
    nan = src.depth.clone()
    nan[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        forward_warp(src.rgb, nan, K, SRC, K, SRC)
    with pytest.raises(ValueError, match="mode"):
        forward_warp(src.rgb, src.depth, K, SRC, K, SRC, mode="cubic")
    with pytest.raises(ValueError, match="features"):
        forward_warp(src.rgb[0], src.depth, K, SRC, K, SRC)
    with pytest.raises(ValueError, match="depth_src"):
        backward_warp(src.rgb, src.depth, K, SRC, K, SRC, depth_src=src.depth[:-1])


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_nothing_in_view_renders_an_empty_image(mode):
    """Points all behind the camera (or none at all): an empty image, not an error."""
    behind = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, -2.0]])
    out = render_points(behind, torch.ones(2, 3), K, identity_pose(), SIZE, mode=mode)
    assert not out.mask.any() and out.features.shape == (3, *SIZE)
    empty = render_points(torch.zeros(0, 3), torch.zeros(0, 3), K, identity_pose(), SIZE, mode=mode)
    assert not empty.mask.any()
