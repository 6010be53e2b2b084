"""The point memory: exact re-rendering, revisits add nothing, footprints under magnification, budget and
eviction policies, state checks."""

import pytest
import torch

from loci.geometry import SyntheticScene, intrinsics_from_fov, make_pose, render, so3_exp
from loci.memory import PointMemory, PointMemoryConfig

SIZE = (30, 40)
K = intrinsics_from_fov(SIZE, fov_x_deg=90)
SCENE = SyntheticScene()


def view(yaw: float, z: float = 0.0):
    pose = make_pose(so3_exp(torch.tensor([0.0, yaw, 0.0])), torch.tensor([0.0, 0.0, z]))
    return render(SCENE, K, pose, SIZE), pose


def test_renders_back_what_it_saw_and_revisits_add_nothing():
    mem = PointMemory()
    v, pose = view(0.3)
    assert mem.insert(v.rgb, v.depth, K, pose) == SIZE[0] * SIZE[1]
    out = mem.render(K, pose, SIZE)
    assert bool(out.mask.all())
    torch.testing.assert_close(out.features, v.rgb, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.depth, v.depth, atol=1e-4, rtol=1e-5)
    assert mem.insert(v.rgb, v.depth, K, pose) == 0  # the same view again: already remembered
    assert mem.nbytes == len(mem) * (12 + 12 + 4 + 4 + 24)  # xyz, rgb, radius, seen depth, 3 counters


def test_oldest_eviction_keeps_the_newest_points():
    mem = PointMemory(PointMemoryConfig(max_points=2000, evict_slack=0.25))
    for i in range(6):
        v, pose = view(0.6 * i)
        mem.insert(v.rgb, v.depth, K, pose)
        assert len(mem) <= 2000
    assert int(mem.born.min()) > 1  # the first frame's points are gone
    assert bool((mem.born[1:] >= mem.born[:-1]).all())  # stored in birth order


def test_least_seen_eviction_keeps_what_is_looked_at():
    mem = PointMemory(PointMemoryConfig(max_points=1500, eviction="least_seen", evict_slack=0.2))
    v0, p0 = view(0.0)
    mem.insert(v0.rgb, v0.depth, K, p0)
    for _ in range(5):  # keep looking at the first view
        mem.render(K, p0, SIZE)
    for i in range(1, 4):
        v, pose = view(1.2 * i)
        mem.insert(v.rgb, v.depth, K, pose)
    assert int((mem.born == 1).sum()) > 0.5 * min(len(mem), SIZE[0] * SIZE[1])
    assert float(mem.render(K, p0, SIZE, count_seen=False).mask.float().mean()) > 0.5


def test_voxel_downsampling_thins_points():
    v, pose = view(0.0, z=2.0)
    dense, sparse = PointMemory(), PointMemory(PointMemoryConfig(voxel_m=0.5))
    dense.insert(v.rgb, v.depth, K, pose)
    sparse.insert(v.rgb, v.depth, K, pose)
    assert 0 < len(sparse) < len(dense) / 4
    keys = sparse._keys(sparse.xyz)
    assert len(torch.unique(keys)) == len(keys)  # one point per voxel


def test_state_round_trip_and_validation():
    mem = PointMemory()
    v, pose = view(0.2)
    mem.insert(v.rgb, v.depth, K, pose)
    other = PointMemory()
    other.load_state_dict(mem.state_dict())
    for k, t in mem.state_dict().items():
        assert torch.equal(t, other.state_dict()[k])
    bad = mem.state_dict()
    bad["xyz"] = bad["xyz"][:-1]
    with pytest.raises(ValueError, match=r"memory state .rgb. must be"):
        other.load_state_dict(bad)
    bad = mem.state_dict()
    del bad["seen"]
    with pytest.raises(ValueError, match="lacks"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match="features must be"):
        mem.insert(v.rgb[:2], v.depth, K, pose)
    with pytest.raises(ValueError, match="eviction"):
        PointMemoryConfig(eviction="random")


def test_footprints_cover_a_magnified_view():
    """Walking 2 m into the room magnifies what the first view saw (the far wall 1.33x, the floor
    near the new camera far more): one-pixel points leave a sieve of cracks; footprints cover the
    surfaces, at the depth and colour of the ray-traced truth. (71 % of the new view was seen by
    the first; measured: 23 % right without footprints, 53 % with.)"""
    v, pose = view(0.0)
    near_v, near_pose = view(0.0, z=2.0)
    seen = {}
    for footprints in (False, True):
        mem = PointMemory(PointMemoryConfig(footprints=footprints))
        mem.insert(v.rgb, v.depth, K, pose)
        out = mem.render(K, near_pose, SIZE)
        right = out.mask & ((out.depth - near_v.depth).abs() < 0.05 * near_v.depth)
        seen[footprints] = right.float().mean().item()
        err = (out.features - near_v.rgb).abs().mean(0)[right].mean().item()
        assert err < 0.1, f"covered pixels must show the truth's colour (mean abs error {err:.3f})"
    assert seen[False] < 0.3 and seen[True] > 0.5, seen
