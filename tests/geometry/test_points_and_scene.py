"""Point accumulation across frames, and the synthetic scene against closed-form geometry."""

import math

import pytest
import torch

from loci.geometry import (
    accumulate_points,
    cast_rays,
    forward_warp,
    identity_pose,
    invert,
    rebase_poses,
    render,
    render_points,
)
from tests.geometry.scenes import SCENE, SIZE, K, covisible, pose, view


def test_floor_depth_matches_closed_form():
    """A level camera at the origin sees the floor plane y = floor_y at depth floor_y · fy / (v - cy)."""
    v = view(pose())
    rows = torch.arange(SIZE[0]) + 0.5
    expect = SCENE.floor_y * K[1, 1] / (rows - K[1, 2])
    col = 2  # far left column: floor, no object in front
    below = (rows > K[1, 2] + 8) & (expect < 3.5)
    torch.testing.assert_close(v.depth[below, col], expect[below], rtol=1e-5, atol=1e-5)


def test_wall_straight_ahead_and_ray_length():
    hits = cast_rays(SCENE, torch.zeros(1, 3), torch.tensor([[0.0, -1.0, 0.0]]))
    assert float(hits.t[0]) == pytest.approx(-SCENE.room.lo[1])  # the ceiling, 2 m above
    hits = cast_rays(SCENE, torch.zeros(1, 3), torch.tensor([[0.0, 0.0, 2.0]]))  # |d| = 2: t in units of |d|
    assert float(hits.t[0]) == pytest.approx(SCENE.room.hi[2] / 2)
    with pytest.raises(ValueError, match="inside the room"):
        cast_rays(SCENE, torch.tensor([[0.0, 0.0, 100.0]]), torch.tensor([[0.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="inside box"):
        cast_rays(SCENE, torch.tensor([[1.5, 0.5, 3.0]]), torch.tensor([[0.0, 0.0, 1.0]]))


def test_render_is_batched_and_view_independent_colour():
    poses = torch.stack([pose(), pose(yaw=0.4, t=(0.5, 0.0, 1.0))])
    both = render(SCENE, K, poses, SIZE)
    assert both.rgb.shape == (2, 3, *SIZE) and both.depth.shape == (2, *SIZE)
    torch.testing.assert_close(both.rgb[1], view(poses[1]).rgb)
    assert 0 <= float(both.rgb.min()) and float(both.rgb.max()) <= 1


def test_accumulated_cloud_renders_back_each_frame():
    poses = torch.stack([pose(), pose(yaw=0.5), pose(yaw=-0.5, t=(0.3, 0.0, 0.5))])
    views = render(SCENE, K, poses, SIZE)
    cloud = accumulate_points(views.depth, K, poses, views.rgb)
    assert len(cloud) == 3 * SIZE[0] * SIZE[1]
    assert cloud.features.shape == (len(cloud), 3)
    # Poses were already in the first frame's frame (pose 0 = identity): rebase changes nothing.
    torch.testing.assert_close(rebase_poses(poses), poses)
    for t in range(3):
        out = render_points(cloud.points, cloud.features, K, poses[t], SIZE)
        assert float(out.mask.float().mean()) > 0.99
        err = (out.features - views.rgb[t]).abs().mean(0)[out.mask]
        assert float(err.median()) < 0.01
        # Other frames' points inside a pixel may sit on a foreground edge that the pixel centre
        # misses: the z-buffer rightly keeps them, so only most pixels match exactly.
        rel = (out.depth - views.depth[t]).abs() / views.depth[t]
        assert float((rel[out.mask] < 0.02).float().mean()) > 0.85


def test_cloud_covers_a_view_no_single_frame_covers():
    """Frames looking left and right together explain a view in between better than either alone."""
    poses = torch.stack([pose(yaw=-0.6), pose(yaw=0.6)])
    views = render(SCENE, K, poses, SIZE)
    cloud = accumulate_points(views.depth, K, poses, views.rgb)
    world = rebase_poses(poses)
    between = invert(poses[0]) @ pose(yaw=0.0)  # the middle view in the rebased frame
    covered = render_points(cloud.points, cloud.features, K, between, SIZE).mask.float().mean()
    single = forward_warp(views.rgb[0], views.depth[0], K, world[0], K, between).mask.float().mean()
    assert float(covered) > float(single) + 0.1


def test_rebase_moves_engine_poses_into_the_first_frame():
    world = pose(yaw=0.7, t=(5.0, 1.0, -2.0))
    poses = torch.stack([world, world @ pose(yaw=0.2, t=(0.0, 0.0, 1.0))])
    based = rebase_poses(poses)
    torch.testing.assert_close(based[0], identity_pose(), atol=1e-6, rtol=0)
    torch.testing.assert_close(based[1], pose(yaw=0.2, t=(0.0, 0.0, 1.0)), atol=1e-5, rtol=0)
    depth = torch.ones(2, *SIZE)
    a = accumulate_points(depth, K, poses, rebase=True).points
    b = accumulate_points(depth, K, based, rebase=False).points
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_accumulate_skips_unknown_depth_and_strides():
    v = view(pose())
    depth = v.depth.clone()[None]
    depth[0, :10] = 0
    cloud = accumulate_points(depth, K, identity_pose()[None], v.rgb[None], stride=2)
    assert len(cloud) == ((SIZE[0] - 10) // 2) * (SIZE[1] // 2)
    with pytest.raises(ValueError, match="c2w"):
        accumulate_points(depth, K, identity_pose(2))
    with pytest.raises(ValueError, match="features"):
        accumulate_points(depth, K, identity_pose(1), v.rgb)


def test_covisibility_oracle_sanity():
    """The oracle itself: a view is fully co-visible with itself; a 180° turn shares nothing."""
    v = view(pose())
    assert float(covisible(pose(), pose(), v.depth).float().mean()) > 0.99
    assert float(covisible(pose(yaw=math.pi), pose(), v.depth).float().mean()) == 0.0
