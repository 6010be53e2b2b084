"""World / Session API on the synthetic engine (exact truth) and on ViZDoom."""

import numpy as np
import pytest
import torch

from loci.engines import make_engine
from loci.geometry import SyntheticScene, intrinsics_from_fov, render
from loci.world import World, WorldConfig, load_session, parse_action, save_session

SIZE = (48, 64)


def synthetic_start():
    K = intrinsics_from_fov(SIZE, fov_x_deg=90)
    view = render(SyntheticScene(), K, torch.eye(4), SIZE)
    rgb = (view.rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return rgb, view.depth.numpy(), K.numpy()


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(-1)[mask].mean()
    return float(10 * np.log10(255**2 / mse))


def test_warp_world_matches_truth_on_covered_pixels():
    """Walking the warp world shows what the synthetic scene shows, where memory covers the view."""
    rgb, depth, K = synthetic_start()
    truth = make_engine("synthetic", size=SIZE)
    session = World(WorldConfig(backend="warp", steps=truth.cfg.steps)).start(rgb, depth, K)
    truth.reset("room", 0, start_pose=np.eye(4, dtype=np.float32))
    for keys in ["Q", "Q", "W", "E", "D"]:
        frame = session.step(keys)
        obs = truth.step(keys)
        np.testing.assert_allclose(frame.pose, obs.pose, atol=1e-5)
        assert frame.coverage.mean() > 0.5
        assert psnr(frame.rgb, obs.rgb, frame.coverage) > 20


def test_actions_keys_lists_text_and_poses():
    rgb, depth, K = synthetic_start()
    s = World().start(rgb, depth, K)
    a = s.step(["W", "Q"])
    assert a.action == "WQ" and a.index == 1
    b = s.step("turn left 90 degrees")
    yaw = np.degrees(np.arctan2(b.pose[0, 2], b.pose[2, 2]))
    assert yaw == pytest.approx(np.degrees(np.arctan2(a.pose[0, 2], a.pose[2, 2])) - 90, abs=1e-3)
    target = np.eye(4, dtype=np.float32)
    target[:3, 3] = [0.5, 0.0, 1.0]
    c = s.step(target)
    np.testing.assert_allclose(c.pose, target, atol=1e-6)
    assert c.action == "pose" and s.actions == ["WQ", "turn left 90 degrees", "pose"]
    assert set(c.timings) >= {"render_ms", "fill_ms", "total_ms"}


@pytest.mark.parametrize(
    "bad,message",
    [
        ("", "empty"),
        ("x" * 501, "limit"),
        (np.eye(3), "4, 4"),
        (3.5, "unsupported"),
        ("fly to the moon", "unknown word"),
    ],
)
def test_bad_actions_raise_clear_errors(bad, message):
    rgb, depth, K = synthetic_start()
    s = World().start(rgb, depth, K)
    with pytest.raises(ValueError, match=message):
        s.step(bad)
    assert s.index == 0  # nothing happened


def test_a_start_image_without_depth_gets_the_shipped_depth_model():
    rgb, depth, K = synthetic_start()
    s = World().start(rgb, K=K)
    assert s.source == {"kind": "image", "depth": "predicted"}
    d = s.frame.depth
    assert d.shape == depth.shape and np.isfinite(d).all() and (d > 0).all()
    assert len(s.memory) > 0 and s.step("W").rgb.shape == rgb.shape


def test_bad_starts():
    rgb, depth, _K = synthetic_start()
    with pytest.raises(ValueError, match=r"needs a depth model: .*does not exist"):
        World(WorldConfig(depth_checkpoint="/nonexistent/depth.safetensors")).start(rgb)
    bad = depth.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        World().start(rgb, bad)
    with pytest.raises(ValueError, match="uint8"):
        World().start(rgb.astype(np.float32), depth)
    with pytest.raises(ValueError, match="backend"):
        WorldConfig(backend="dream")


@pytest.mark.parametrize("backend", ["warp", "copy-last"])
def test_save_load_round_trip_is_exact(tmp_path, backend):
    rgb, depth, K = synthetic_start()
    s = World(WorldConfig(backend=backend)).start(rgb, depth, K)
    for a in ["W", "WQ", "turn right 20 degrees", "R", "A"]:
        s.step(a)
    save_session(s, tmp_path / "s.safetensors")
    t = load_session(tmp_path / "s.safetensors")
    assert t.actions == s.actions and len(t.poses) == len(s.poses)
    np.testing.assert_array_equal(np.stack(t.poses), np.stack(s.poses))
    for k, v in s.memory.state_dict().items():
        assert torch.equal(v, t.memory.state_dict()[k])
    for a in ["W", "E", "F"]:
        x, y = s.step(a), t.step(a)
        np.testing.assert_array_equal(x.rgb, y.rgb)
        np.testing.assert_array_equal(x.pose, y.pose)


def test_corrupt_saves_are_rejected_and_never_half_written(tmp_path):
    rgb, depth, K = synthetic_start()
    s = World().start(rgb, depth, K)
    path = tmp_path / "s.safetensors"
    save_session(s, path)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a readable"):
        load_session(path)
    path.write_bytes(b"hello")
    with pytest.raises(ValueError):
        load_session(path)
    with pytest.raises(FileNotFoundError):
        load_session(tmp_path / "missing.safetensors")
    # a failing save leaves the previous file intact and no temp file behind
    path.write_bytes(good)
    s.memory.xyz = "not a tensor"  # type: ignore[assignment]
    with pytest.raises(AttributeError):
        save_session(s, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["s.safetensors"]


def test_saved_worlds_carry_a_digest_and_refuse_flips_nan_and_unknown_versions(tmp_path):
    """A bit flip anywhere in a save's tensor data, NaN in a learned world's KV cache (even under a
    matching digest, as a buggy writer would leave it) and an unknown version are refused by name;
    a version-1 save (before digests) still loads and continues exactly."""
    import random

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from loci.io import tensors_digest

    rgb, depth, K = synthetic_start()
    s = World(WorldConfig(backend="loci", collision_m=None)).start(rgb, depth, K)
    s.step("W")
    path = tmp_path / "s.safetensors"
    save_session(s, path)
    good = path.read_bytes()
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    assert meta["version"] == "2" and meta["tensors_sha256"] == tensors_digest(load_file(str(path)))
    rng, start = random.Random(1), 8 + int.from_bytes(good[:8], "little")
    flipped = tmp_path / "flipped.safetensors"
    for _ in range(8):
        blob = bytearray(good)
        blob[rng.randrange(start, len(blob))] ^= 1 << rng.randrange(8)
        flipped.write_bytes(bytes(blob))
        with pytest.raises(ValueError, match="is corrupt: its tensor data does not match"):
            load_session(flipped)

    tensors = load_file(str(path))
    cache = sorted(
        k for k in tensors if k.startswith("backend.") and "key" in k and tensors[k].is_floating_point()
    )
    assert cache, sorted(tensors)
    tensors[cache[0]].view(-1)[0] = float("nan")
    nan = tmp_path / "nan.safetensors"
    save_file(tensors, str(nan), metadata=meta | {"tensors_sha256": tensors_digest(tensors)})
    with pytest.raises(ValueError, match=rf"tensor '{cache[0]}' holds 1 NaN/inf"):
        load_session(nan)

    future = tmp_path / "future.safetensors"
    save_file(load_file(str(path)), str(future), metadata=meta | {"version": "3"})
    with pytest.raises(ValueError, match="session version '3' is not supported"):
        load_session(future)
    v1 = tmp_path / "v1.safetensors"
    save_file(
        load_file(str(path)),
        str(v1),
        metadata={k: v for k, v in meta.items() if k != "tensors_sha256"} | {"version": "1"},
    )
    loaded = load_session(v1)
    np.testing.assert_array_equal(s.step("Q").rgb, loaded.step("Q").rgb)


def test_memory_budget_and_revisits():
    rgb, depth, K = synthetic_start()
    s = World().start(rgb, depth, K)
    n0 = len(s.memory)
    for _ in range(36):  # a full turn in 10° steps (the default turn is 5°: use text)
        s.step("turn left 10 degrees")
    n1 = len(s.memory)
    assert n1 > n0  # new places were added
    for _ in range(36):
        s.step("turn left 10 degrees")
    assert len(s.memory) <= n1 * 1.05  # the second turn revisits: (almost) nothing new
    assert s.memory.nbytes == len(s.memory) * (3 * 4 + 3 * 4 + 4 + 4 + 3 * 8)  # no sky in a closed room


def test_engine_backend_is_the_truth_and_replays_on_load(tmp_path):
    s = World(WorldConfig(backend="engine")).start_from_engine(make_engine("synthetic", size=SIZE), "room", 3)
    np.testing.assert_allclose(s.frame.pose, np.eye(4), atol=1e-6)
    frames = [s.step(k) for k in "WWQE"]
    with pytest.raises(ValueError, match="keys only"):
        s.step("turn left 10 degrees")
    save_session(s, tmp_path / "e.safetensors")
    t = load_session(tmp_path / "e.safetensors", engine=make_engine("synthetic", size=SIZE))
    np.testing.assert_array_equal(t.frame.rgb, frames[-1].rgb)


def test_parse_action_kinds():
    assert parse_action("WQ").kind == "keys" and parse_action(".").value == "."
    assert parse_action("look up").kind == "text"
    assert parse_action("w").kind == "text"  # lower-case words are text; keys are upper-case


def test_top_down_map():
    rgb, depth, K = synthetic_start()
    s = World().start(rgb, depth, K)
    for k in "WWQQ":
        s.step(k)
    img = s.top_down(100)
    assert img.shape == (100, 100, 3) and img.dtype == np.uint8 and img.std() > 5


def test_collision_stops_forward_steps_at_walls():
    rgb, depth, K = synthetic_start()
    s = World(WorldConfig(steps=WorldConfig().steps)).start(rgb, depth, K)
    for _ in range(60):
        s.step("W")
    ahead = s.frame.depth[20:28, 28:36]
    assert float(np.percentile(ahead[ahead > 0], 10)) > 0.2  # stopped before the wall, view not empty
    assert s.frame.coverage.mean() > 0.3
    free = World(WorldConfig(collision_m=None)).start(rgb, depth, K)
    for _ in range(60):
        free.step("W")
    assert free.frame.pose[2, 3] > s.frame.pose[2, 3] + 1


def test_the_shipped_learned_world_runs_saves_and_loads(tmp_path):
    """The default world's weights load (their configs match), play, and a saved session continues
    exactly, re-lit by the shipped ViZDoom light falloff."""
    rgb, depth, K = synthetic_start()
    world = World(WorldConfig(backend="loci", collision_m=None))
    s = world.start(rgb, depth, K, engine="vizdoom")
    assert s.memory.light is not None and s.memory.light.name == "vizdoom"
    frames = [s.step(k) for k in "WQWE"]
    assert all(f.rgb.shape == rgb.shape and np.isfinite(f.depth).all() for f in frames)
    assert s.backend.model.config.cond_channels == s.backend.model.config.latent_channels + 2
    save_session(s, tmp_path / "loci.safetensors")
    loaded = load_session(str(tmp_path / "loci.safetensors"))
    assert loaded.memory.light is not None and loaded.source["engine"] == "vizdoom"
    assert loaded.source["light_strength"] == s.source["light_strength"]
    torch.testing.assert_close(loaded.memory.light.log_brightness, s.memory.light.log_brightness)
    np.testing.assert_array_equal(s.step("D").rgb, loaded.step("D").rgb)


def test_a_learned_session_only_continues_with_the_weights_that_made_it(tmp_path):
    """The save records the weights' SHA-256 (checked against hashlib's); other weights, or a save
    from before digests were recorded (made by the first shipped pair), are refused by name, and
    pointing the load at the right weights continues exactly."""
    import hashlib
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from loci.models import SHIPPED_TOKENIZER, SHIPPED_WORLD
    from loci.models.checkpoint import export_weights

    rgb, depth, K = synthetic_start()
    s = World(WorldConfig(backend="loci", collision_m=None)).start(rgb, depth, K)
    s.step("W")
    path = tmp_path / "s.safetensors"
    save_session(s, path)
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    assert json.loads(meta["weights"]) == {
        "world": hashlib.sha256(SHIPPED_WORLD.read_bytes()).hexdigest(),
        "tokenizer": hashlib.sha256(SHIPPED_TOKENIZER.read_bytes()).hexdigest(),
    }
    # the same tensors under other metadata: other bytes, so other weights as far as the save knows
    retrained = export_weights(SHIPPED_WORLD, tmp_path / "w.safetensors", "world", metrics={"note": "x"})
    with pytest.raises(ValueError, match=r"other world weights: sha256 world [0-9a-f]{12}"):
        load_session(str(path), world_checkpoint=str(retrained))
    copy = tmp_path / "same.safetensors"
    copy.write_bytes(SHIPPED_WORLD.read_bytes())  # the very weights, elsewhere: fine
    loaded = load_session(str(path), world_checkpoint=str(copy))
    np.testing.assert_array_equal(s.step("Q").rgb, loaded.step("Q").rgb)
    legacy = tmp_path / "legacy.safetensors"  # written before the digests were recorded
    save_file(load_file(str(path)), str(legacy), metadata={k: v for k, v in meta.items() if k != "weights"})
    from loci.world.persist import FIRST_SHIPPED_WEIGHTS

    if json.loads(meta["weights"]) != FIRST_SHIPPED_WEIGHTS:
        with pytest.raises(ValueError, match="first shipped pair, in git up to commit 4cfa33a"):
            load_session(str(legacy))
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(path)), str(bad), metadata=meta | {"weights": json.dumps({"world": "x"})})
    with pytest.raises(ValueError, match="malformed session metadata"):
        load_session(str(bad))
    assert World(WorldConfig(backend="warp")).weights_id() is None


def test_the_light_falloff_follows_the_world_and_the_setting(tmp_path):
    """``light="auto"`` (default): the shipped falloff of the session's engine, for a learned backend
    only, scaled by what the start frame shows; a path: that file, for any backend; a bad path: a
    clear error."""
    from loci.memory import LightFalloff
    from loci.training.light import save_light_falloff

    rgb, depth, K = synthetic_start()
    off = World(WorldConfig(backend="loci", collision_m=None, light="none"))
    assert off.start(rgb, depth, K, engine="vizdoom").memory.light is None
    loci = World(WorldConfig(backend="loci", collision_m=None))
    assert loci.start(rgb, depth, K).memory.light is None  # an image of unknown origin
    assert loci.start(rgb, depth, K, engine="synthetic").memory.light is None  # no falloff shipped
    assert World(WorldConfig(backend="warp")).start(rgb, depth, K, engine="vizdoom").memory.light is None
    path = save_light_falloff(
        LightFalloff(torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0]), "x"), tmp_path / "l.safetensors"
    )
    warp = World(WorldConfig(backend="warp", light=str(path), light_strength=None)).start(rgb, depth, K)
    assert warp.memory.light is not None and warp.memory.light.name == "x"
    torch.testing.assert_close(warp.memory.light.log_brightness, torch.tensor([0.0, -1.0]))
    flat = np.full_like(rgb, 120)  # brightness that does not change with depth: nothing to re-light
    lit = World(WorldConfig(backend="warp", light=str(path))).start(flat, depth, K)
    assert lit.source["light_strength"] == pytest.approx(0, abs=1e-6)
    assert float(lit.memory.light.log_brightness.abs().max()) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="no light falloff"):
        World(WorldConfig(backend="warp", light=str(tmp_path / "none.safetensors"))).start(rgb, depth, K)


def test_warp_with_nothing_in_view_shows_the_last_frame():
    """Turned to face where the memory holds nothing (the first frame's points are all behind the
    camera): warp has nothing to fill from and shows the last frame instead of black, remembering
    nothing of it."""
    rgb, depth, K = synthetic_start()
    s = World(WorldConfig(backend="warp", collision_m=None)).start(rgb, depth, K)
    n = len(s.memory)
    behind = np.eye(4)
    behind[:3, :3] = [[-1, 0, 0], [0, 1, 0], [0, 0, -1]]  # 180° about the vertical axis
    frame = s.step(behind)
    assert not frame.coverage.any()
    np.testing.assert_array_equal(frame.rgb, rgb)
    assert len(s.memory) == n
