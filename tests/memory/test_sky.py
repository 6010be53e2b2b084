"""The sky memory: colours at infinity by direction (closed form), behind the points, never through their
cracks, saved and loaded; on Doom, the engine's own sky seen again after walking, looking up and turning."""

import math

import numpy as np
import pytest
import torch

from loci.geometry import intrinsics_from_fov, make_pose, so3_exp
from loci.geometry.rays import _camera_rays
from loci.memory import PointMemory, PointMemoryConfig, SkyMemory

SIZE = (60, 80)
K = intrinsics_from_fov(SIZE, fov_x_deg=90)


def pose(yaw: float = 0.0, pitch: float = 0.0, at=(0.0, 0.0, 0.0)) -> torch.Tensor:
    R = so3_exp(torch.tensor([0.0, yaw, 0.0])) @ so3_exp(torch.tensor([pitch, 0.0, 0.0]))
    return make_pose(R, torch.tensor(at))


def sky_colour(P: torch.Tensor) -> torch.Tensor:
    """A smooth colour field of the world direction of every pixel of camera ``P``: ``(3, H, W)``."""
    d = _camera_rays(K, SIZE) @ P[:3, :3].T
    d = d / d.norm(dim=-1, keepdim=True)
    return torch.stack([0.5 + 0.4 * d[..., 0], 0.5 - 0.4 * d[..., 1], 0.5 + 0.4 * d[..., 2]])


def test_sky_is_seen_by_direction_from_anywhere():
    """Inserted from one camera, rendered from a camera turned 30° and moved 50 m: the colours of the
    directions both saw, and nothing where the first never looked."""
    sky = SkyMemory()
    a, b = pose(), pose(yaw=math.radians(30), pitch=math.radians(10), at=(50.0, -3.0, 20.0))
    assert sky.insert(sky_colour(a), K, a, torch.ones(SIZE, dtype=torch.bool)) > 0
    colours, mask = sky.render(K, b, SIZE)
    assert 0.2 < mask.float().mean() < 0.9  # overlap only: 30° of a 90° view turned away
    err = (colours - sky_colour(b)).abs()[:, mask]
    assert err.mean() < 0.01 and err.max() < 0.05  # coarser fallback cells blur a little
    assert not mask[:, -5:].any()  # the right edge looks where camera a never did
    assert bool(mask[20:40, :5].all())  # the left edge looks where camera a did (not its corners: pitch)


def test_renders_follow_inserts_and_loads():
    """Renders reuse the panorama's pyramid between changes: after each insert and load they equal
    a fresh memory's render of the same state (the pyramid built from scratch)."""
    sky = SkyMemory()
    a, b = pose(), pose(yaw=math.radians(60))
    view = pose(yaw=math.radians(30))
    sky.insert(sky_colour(a), K, a, torch.ones(SIZE, dtype=torch.bool))
    first = sky.render(K, view, SIZE)
    sky.insert(sky_colour(b) * 0.5, K, b, torch.ones(SIZE, dtype=torch.bool))  # a darker sky where b looks
    for _ in range(2):
        fresh = SkyMemory()
        fresh.load_state_dict(sky.state_dict())
        got, want = sky.render(K, view, SIZE), fresh.render(K, view, SIZE)
        assert torch.equal(got[1], want[1]) and torch.equal(got[0], want[0])
        assert got[1].sum() > first[1].sum()  # b's directions are seen now
        sky.load_state_dict({})  # an empty sky: nothing is rendered
        assert sky.empty and not bool(sky.render(K, view, SIZE)[1].any())
        sky.load_state_dict(fresh.state_dict())


def test_points_win_and_cracks_stay_holes():
    """The sky shows only where no point does, at depth 0 (infinity), and never in the cracks between
    the points of a magnified wall."""
    mem = PointMemory(PointMemoryConfig(footprints=False))
    P = pose()
    depth = torch.zeros(SIZE)
    depth[:, 40:] = 5.0  # the right half is a wall 5 m away, the left half is sky
    rgb = torch.zeros(3, *SIZE)
    rgb[2, :, :40] = 1.0  # blue sky
    rgb[0, :, 40:] = 1.0  # red wall
    mem.insert(rgb, depth, K, P, observed=True)
    out = mem.render(K, P, SIZE)
    assert bool(out.mask.all())
    assert bool((out.depth[:, :40] == 0).all()) and bool((out.features[2, :, :40] == 1).all())
    assert bool((out.features[0, :, 40:] == 1).all())
    near = mem.render(K, pose(at=(0.0, 0.0, 2.0)), SIZE)  # 5 m -> 3 m: the wall magnifies 1.67x
    wall = (slice(5, 55), slice(45, 78))
    assert bool((~near.mask[wall]).any()), "the magnified wall must have cracks for this test"
    assert not bool((near.mask & (near.depth == 0))[wall].any())  # no sky through them
    assert bool((near.features[2, :, :35] == 1).all())  # the sky itself is still there


def test_generated_frames_leave_the_sky_alone():
    """A generated frame's unknown depth is no information (a warp with nothing to show is black at depth
    0): only observed frames write the sky."""
    mem = PointMemory()
    P = pose()
    mem.insert(torch.zeros(3, *SIZE), torch.zeros(SIZE), K, P)
    assert mem.sky.empty and not bool(mem.render(K, P, SIZE).mask.any())
    mem.insert(sky_colour(P), torch.zeros(SIZE), K, P, observed=True)
    assert not mem.sky.empty and bool(mem.render(K, P, SIZE).mask.all())


def test_sky_state_round_trip_and_old_saves():
    mem = PointMemory()
    P = pose()
    depth = torch.zeros(SIZE)
    depth[30:] = 4.0
    mem.insert(sky_colour(P), depth, K, P, observed=True)
    state = mem.state_dict()
    assert {"sky.rgb", "sky.weight"} <= set(state)
    other = PointMemory()
    other.load_state_dict(state)
    torch.testing.assert_close(other.render(K, P, SIZE).features, mem.render(K, P, SIZE).features)
    old = {k: v for k, v in state.items() if not k.startswith("sky.") and k != "radius"}
    other.load_state_dict(old)  # saved before the sky and footprints existed: an empty sky
    assert other.sky.empty and len(other) == len(mem)
    bad = dict(state)
    bad["sky.rgb"] = bad["sky.rgb"][:, :10]
    with pytest.raises(ValueError, match="sky state"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match="sky features"):
        mem.sky.insert(sky_colour(P)[:2], K, P, depth == 0)


def _doom_sky_views(keys: str):
    """A Doom view with a third of sky (the end of the quick suite's straight walk), then ``keys``."""
    pytest.importorskip("vizdoom")
    from loci.engines import make_engine
    from loci.eval.suite import build_suite
    from loci.eval.truth import record_truth

    with make_engine("vizdoom") as engine:
        record_truth(engine, build_suite(True, ("vizdoom",))[0])
        first = engine.step(".")
        last = first
        for k in keys:
            last = engine.step(k)
    return first, last


@pytest.mark.parametrize("keys, max_err", [("WW", 3.0), ("RR", 3.0), ("AA", 3.0), ("QQ", 0.6)])
def test_doom_sky_seen_again(keys, max_err):
    """The engine's truth: walking, strafing and looking up leave Doom's sky where the sky memory puts it
    (mean error under 3 of 255; measured 0.7 to 1.9). Doom maps its sky texture to screen columns by angle, not through the
    pinhole: turning shifts it a little differently, so there the test asks for less than 60 % of the
    error of the best constant colour (measured: 8.9 against 17.4)."""
    first, last = _doom_sky_views(keys)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    sky = SkyMemory()
    sky.insert(
        t(first.rgb).permute(2, 0, 1).float() / 255,
        t(first.K).float(),
        t(first.pose).float(),
        t(first.depth == 0),
    )
    colours, mask = sky.render(t(last.K).float(), t(last.pose).float(), last.rgb.shape[:2])
    both = mask.numpy() & (last.depth == 0)
    assert both.mean() > 0.1, "the walk must keep sky in view"
    pred = (colours.permute(1, 2, 0).numpy() * 255).round()
    err = np.abs(pred - last.rgb)[both].mean()
    constant = np.abs(last.rgb[both] - last.rgb[both].mean(0)).mean()
    print(keys, f"sky error {err:.2f}, best constant colour {constant:.2f}")
    assert err < (max_err if keys != "QQ" else max_err * constant)
