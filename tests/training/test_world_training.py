"""World-model training and the ``dit`` backend end to end, with tiny random models on synthetic episodes."""

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from loci.data.generate import generate
from loci.models import DiTConfig, Tokenizer, TokenizerConfig
from loci.models.checkpoint import save_checkpoint
from loci.models.loading import load_world_model
from loci.training.world import WorldTrainConfig, train_world
from loci.world import DitConfig, World, WorldConfig, load_preset, load_session, save_session
from loci.world.fill import nearest_fill
from tests.world.oracles import brute_distance

SIZE = (32, 48)
TOK = TokenizerConfig(
    latent_channels=4,
    downsample=8,
    widths=(8, 8, 8, 8),
    encoder_blocks=(0, 0, 0, 1),
    decoder_blocks=(0, 0, 0, 1),
)
DIT = DiTConfig(
    latent_channels=4,
    cond_channels=0,
    patch_size=1,
    width=32,
    depth=2,
    heads=2,
    chunk_frames=1,
    max_history=4,
    freq_dim=32,
    camera_hidden=8,
)


def episodes_and_tokenizer(root):
    """Two 10-frame synthetic episodes in ``root/data`` and a random tiny tokenizer; its path."""
    generate(
        "synthetic",
        ["room"],
        2,
        10,
        root / "data",
        policy="random_walk",
        workers=1,
        engine_overrides={"size": SIZE},
        progress=False,
    )
    torch.manual_seed(0)
    return save_checkpoint(root / "tok.safetensors", Tokenizer(TOK), TOK, "tokenizer")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    tok = episodes_and_tokenizer(root)
    cfg = WorldTrainConfig(
        data_dir=str(root / "data"),
        eval_dir=str(root / "data"),
        tokenizer=str(tok),
        checkpoint_dir=str(root / "ckpt"),
        model=DIT,
        window=4,
        steps=3,
        batch_size=2,
        eval_every=3,
        eval_batches=1,
        checkpoint_every=3,
        num_threads=1,
        progress=False,
    )
    return root, tok, cfg


def test_training_runs_saves_and_resumes(setup):
    _, _, cfg = setup
    path = train_world(cfg)
    model = load_world_model(path)
    assert model.config == DIT
    again = train_world(WorldTrainConfig(**{**cfg.__dict__, "steps": 5}))  # resumes at step 3
    from loci.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(again, "world")
    assert ckpt.step == 5 and np.isfinite(ckpt.extra["history"][-1]["loss"])
    with pytest.raises(ValueError, match="another model config"):
        train_world(
            WorldTrainConfig(
                **{**cfg.__dict__, "model": DiTConfig(**{**DIT.__dict__, "width": 16}), "steps": 6}
            )
        )


def test_a_fresh_run_can_start_from_trained_weights(setup):
    root, _, cfg = setup
    trained = train_world(cfg)
    fresh = {**cfg.__dict__, "checkpoint_dir": str(root / "ckpt_init"), "init_from": str(trained)}
    path = train_world(WorldTrainConfig(**{**fresh, "steps": 0}))  # zero steps: the weights as they came
    a, b = load_world_model(trained).state_dict(), load_world_model(path).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="different model config"):
        train_world(
            WorldTrainConfig(
                **{
                    **fresh,
                    "checkpoint_dir": str(root / "ckpt_init2"),
                    "model": DiTConfig(**{**DIT.__dict__, "width": 16}),
                }
            )
        )
    with pytest.raises(ValueError, match="does not exist"):
        train_world(
            WorldTrainConfig(
                **{**fresh, "checkpoint_dir": str(root / "ckpt_init3"), "init_from": str(root / "nope")}
            )
        )


def test_dit_backend_is_reproducible_and_keeps_a_bounded_cache(setup):
    root, tok, cfg = setup
    path = train_world(cfg)
    world = World(
        WorldConfig(
            backend="dit", tokenizer_checkpoint=str(tok), world_checkpoint=str(path), collision_m=None
        )
    )
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, SIZE).astype(np.float32)

    def play():
        s = world.start(rgb, depth)
        return s, [s.step(k) for k in "WWQEWWAD"]

    s1, a = play()
    _, b = play()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.rgb, y.rgb)
    assert a[-1].rgb.shape == (*SIZE, 3) and a[-1].depth.shape == SIZE and a[-1].index == 8
    assert len(s1.backend.cache.slots) <= s1.backend.cfg.window
    assert {"generate_ms", "decode_ms", "total_ms"} <= set(a[-1].timings)
    # teacher forcing: the true frame replaces the model's own latest frame in the KV cache
    s1.observe(rgb, depth, a[-1].pose, a[-1].K)
    tf = s1.step("W")
    assert tf.index == 9 and len(s1.backend.cache.slots) <= s1.backend.cfg.window
    # a saved learned session continues exactly as the original would have
    save_session(s1, root / "dit.safetensors")
    loaded = load_session(str(root / "dit.safetensors"))
    for k in "WQD":
        x, y = s1.step(k), loaded.step(k)
        np.testing.assert_array_equal(x.rgb, y.rgb)
        np.testing.assert_array_equal(x.pose, y.pose)
    with pytest.raises(ValueError, match=r"world checkpoint: .*nope\.safetensors does not exist"):
        World(WorldConfig(backend="dit", world_checkpoint=str(root / "nope.safetensors"))).start(rgb, depth)


@pytest.fixture(scope="module")
def memory_setup(setup):
    root, tok, cfg = setup
    mem_cfg = WorldTrainConfig(
        **{
            **cfg.__dict__,
            "model": DiTConfig(**{**DIT.__dict__, "cond_channels": 6}),
            "checkpoint_dir": str(root / "ckpt_memory"),
            "steps": 2,
        }
    )
    return root, tok, train_world(mem_cfg)


def learned_world(tok, path, dit: DitConfig, backend: str = "loci") -> World:
    """A learned world of the tiny test checkpoints, without collisions."""
    return World(
        WorldConfig(
            backend=backend,
            tokenizer_checkpoint=str(tok),
            world_checkpoint=str(path),
            collision_m=None,
            dit=dit,
        )
    )


def test_memory_model_trains_and_conditions_on_the_latent_memory(memory_setup, monkeypatch):
    _, tok, path = memory_setup
    assert load_world_model(path).config.cond_channels == 6
    world = learned_world(
        tok, path, DitConfig(anchor=None, composite=False), backend="loci"
    )  # the generated frame as it is
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, SIZE).astype(np.float32)
    s = world.start(rgb, depth)
    backend = s.backend
    assert backend.name == "loci" and backend.memory_mode == "latent"
    # Back at the start pose, the memory condition is the start frame's own latents, all valid.
    f0 = s.frame
    cond = backend._memory_channels(
        torch.from_numpy(f0.K), torch.from_numpy(f0.pose), f0.size, (SIZE[0] // 8, SIZE[1] // 8), s.memory
    )
    z0, _ = backend.tokenizer.encode(
        torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1, torch.from_numpy(depth)[None]
    )
    torch.testing.assert_close(cond[0, 0, :4], z0[0])
    assert bool((cond[0, 0, -1] == 1).all())
    n_before = len(backend.latents)
    frames = [s.step(k) for k in "WWQQ"]
    # the generated latent and its decoded depth are what the step inserted into the latent memory
    z, d, pose, _ = backend.latest
    with torch.inference_mode():
        rgb_dec, _ = backend.tokenizer.decode(z, backend.scale)
    img = ((rgb_dec[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    np.testing.assert_array_equal(img, frames[-1].rgb)
    np.testing.assert_array_equal(d[0].numpy(), frames[-1].depth)
    np.testing.assert_array_equal(pose.numpy(), frames[-1].pose)
    # a frame observed at a new pose enters the memory at the next step (teacher forcing)
    n_before = len(backend.latents)
    s.observe(rgb, depth, frames[-1].pose, frames[-1].K)
    s.step("Q")
    assert len(backend.latents) > n_before
    # saving keeps the latent memory and the cache: the loaded session continues identically
    save_session(s, path.parent / "loci.safetensors")
    loaded = load_session(str(path.parent / "loci.safetensors"))
    assert len(loaded.backend.latents) == len(backend.latents)
    for k in "WE":
        np.testing.assert_array_equal(s.step(k).rgb, loaded.step(k).rgb)
    # a state that does not fit the model (here: a cache of the wrong width) is refused by name
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path.parent / "loci.safetensors"), "pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    tensors["backend.cache.keys"] = tensors["backend.cache.keys"][..., :1].contiguous()
    from loci.io import tensors_digest

    # a consistent file (its digest recomputed), only of the wrong shape: the shape check names it
    meta = meta | {"tensors_sha256": tensors_digest(tensors)}
    save_file(tensors, str(path.parent / "bad.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match="does not fit"):
        load_session(str(path.parent / "bad.safetensors"))
    assert {"memory_ms", "generate_ms", "decode_ms"} <= set(frames[-1].timings)
    # composite: where the RGB point memory covers the view, the frame shows its pixels; with anchoring
    wc = learned_world(tok, path, DitConfig(anchor=0.0, composite=True), backend="loci")
    sc = wc.start(rgb, depth)
    target = sc.controller.peek("Q").numpy()
    seen = sc.memory.render(
        torch.from_numpy(f0.K), torch.from_numpy(target.astype(np.float32)), SIZE, count_seen=False
    )
    before = len(sc.memory)
    out = sc.step("Q")
    valid = seen.mask.numpy()
    assert valid.any() and not valid.all()
    np.testing.assert_array_equal(out.coverage, valid)
    shown = (seen.features.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out.rgb[valid], shown[valid])
    # the cracks between splatted points (what a 3x3 closing adds) are inpainted from the memory as
    # OpenCV does it; only the disocclusions beyond them are generated and enter the point memory
    closed = cv2.morphologyEx(valid.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
    assert (closed & ~valid).any() and not closed.all()
    inpainted = cv2.inpaint(shown, (~valid).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    np.testing.assert_array_equal(out.rgb[closed], inpainted[closed])
    assert 0 < len(sc.memory) - before <= (~closed).sum()
    # the generated pixels take the depth of a nearest remembered pixel (brute force, up to the
    # approximate distance transform's slack), not the decoder's; where the decoder draws sky (depth
    # 0, at infinity) they stay sky
    _, drawn = sc.backend.tokenizer.decode(sc.backend.latest[0], sc.backend.scale)
    sky = (drawn[0] <= 0).numpy()
    vy, vx = np.nonzero(valid)
    known_depth = seen.depth.numpy()[valid]
    for y, x in zip(*np.nonzero(~closed), strict=True):
        if sky[y, x]:
            assert out.depth[y, x] == 0, (y, x)
            continue
        dist = np.hypot(vy - y, vx - x)
        near = dist <= dist.min() + 1.0
        assert np.isclose(known_depth[near], out.depth[y, x]).any(), (y, x)
    assert (~sky[~closed]).any(), "the test needs generated pixels that are not sky"
    # the same weights without the memory condition, and with the RGB point memory encoded
    for backend_name, mode in (("dit", "none"), ("loci", "points")):
        w = learned_world(tok, path, DitConfig(memory="points"), backend=backend_name)
        s2 = w.start(rgb, depth)
        assert s2.backend.memory_mode == mode
        if backend_name == "dit":  # no memory of any kind: no composite, no start from its render
            assert not s2.backend.cfg.composite and s2.backend.cfg.start_from_fill is None
        out = s2.step("W")
        assert out.rgb.shape == (*SIZE, 3) and np.isfinite(out.depth).all()
    # SDEdit: the new latent starts at flow time 0.5 from the encoded point-memory render with its
    # holes inpainted (what warp shows), and the composite contract is unchanged
    with pytest.raises(ValueError, match="start_from_fill"):
        DitConfig(start_from_fill=0.0)
    import loci.world.backends.learned as dit_backend

    seen_init = []
    real = dit_backend.sample_chunk
    monkeypatch.setattr(
        dit_backend, "sample_chunk", lambda *a, **k: seen_init.append(k.get("init")) or real(*a, **k)
    )
    ws = learned_world(tok, path, DitConfig(start_from_fill=0.5), backend="loci")
    s3 = ws.start(rgb, depth)
    target = s3.controller.peek("Q").numpy()
    view = s3.memory.render(
        torch.from_numpy(s3.frame.K), torch.from_numpy(target.astype(np.float32)), SIZE, count_seen=False
    )
    out = s3.step("Q")
    shown = (view.features.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    filled = cv2.inpaint(shown, (~view.mask.numpy()).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    near_depth = nearest_fill(view.depth.numpy(), view.mask.numpy())  # holes: the nearest known depth
    z_fill, _ = s3.backend.tokenizer.encode(
        torch.from_numpy(filled).permute(2, 0, 1)[None].float() / 127.5 - 1,
        torch.from_numpy(near_depth)[None],
        s3.backend.scale,
    )
    (x0, t_start) = seen_init[-1]
    assert t_start == 0.5
    torch.testing.assert_close(x0[:, 0], z_fill)
    np.testing.assert_array_equal(out.rgb[view.mask.numpy()], shown[view.mask.numpy()])


def test_the_anchor_keeps_the_memory_or_the_encoded_fill_where_the_memory_is_valid(memory_setup):
    """RePaint's known latents: the memory condition's own (``anchor_from="memory"``) or the tokenizer's
    encoding of the inpainted point-memory render (``"fill"``, computed here with OpenCV), exactly,
    where the latent memory is valid; generated elsewhere."""
    _, tok, path = memory_setup
    with pytest.raises(ValueError, match="anchor_from"):
        DitConfig(anchor_from="noise")
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, SIZE).astype(np.float32)
    for source in ("memory", "fill"):
        s = learned_world(tok, path, DitConfig(anchor=0.0, anchor_from=source, start_from_fill=0.5)).start(
            rgb, depth
        )
        b = s.backend
        turn = np.eye(4)
        turn[:3, :3] = cv2.Rodrigues(np.array([0.0, 0.6, 0.0]))[0]  # 34° to the right: a third is new
        target = s.frame.pose.astype(np.float64) @ turn
        K = s.frame.K
        latent = (SIZE[0] // b.tokenizer.downsample, SIZE[1] // b.tokenizer.downsample)
        cond = b._memory_channels(
            torch.from_numpy(K), torch.from_numpy(target.astype(np.float32)), SIZE, latent, s.memory
        )
        C = b.model.config.latent_channels
        valid = cond[0, 0, -1] > 0
        assert valid.any() and not valid.all()
        view = s.memory.render(
            torch.from_numpy(K), torch.from_numpy(target.astype(np.float32)), SIZE, count_seen=False
        )
        shown = (view.features.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        filled = cv2.inpaint(shown, (~view.mask.numpy()).astype(np.uint8), 3, cv2.INPAINT_TELEA)
        z_fill, _ = b.tokenizer.encode(
            torch.from_numpy(filled).permute(2, 0, 1)[None].float() / 127.5 - 1,
            torch.from_numpy(nearest_fill(view.depth.numpy(), view.mask.numpy()))[None],
            b.scale,
        )
        s.step(target)
        z = b.latest[0][0]
        want = cond[0, 0, :C] if source == "memory" else z_fill[0]
        torch.testing.assert_close(z[:, valid], want[:, valid])
        assert not torch.allclose(z[:, ~valid], want[:, ~valid])


def test_the_disocclusion_mix_follows_the_session_engine_unless_set(memory_setup):
    _, tok, path = memory_setup
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, SIZE).astype(np.float32)
    world = learned_world(tok, path, DitConfig())
    presets = {
        name: dataclasses.asdict(load_preset(name).sampling) for name in ("vizdoom", "miniworld", "image")
    }
    for engine, preset in (
        ("vizdoom", "vizdoom"),
        ("miniworld", "miniworld"),
        (None, "image"),
        ("synthetic", "image"),
    ):
        session = world.start(rgb, depth, engine=engine)
        assert session.preset.name == preset
        assert {k: getattr(session.backend.cfg, k) for k in presets[preset]} == presets[preset]
    assert presets["miniworld"] != presets["vizdoom"]
    # a value set by the user wins over the preset's
    mine = learned_world(tok, path, DitConfig(hole_blend=0.3)).start(rgb, depth, engine="miniworld")
    assert mine.backend.cfg.hole_blend == 0.3
    assert mine.backend.cfg.hole_ramp == presets["miniworld"]["hole_ramp"]
    assert mine.backend.cfg.anchor_from == presets["miniworld"]["anchor_from"]


def test_hole_blend_mixes_the_generated_and_the_inpainted_disocclusions(memory_setup):
    _, tok, path = memory_setup
    with pytest.raises(ValueError, match="hole_blend"):
        DitConfig(hole_blend=1.5)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, SIZE).astype(np.float32)
    out, view = {}, None
    for a in (1.0, 0.5, 0.0):
        s = learned_world(tok, path, DitConfig(hole_blend=a, hole_ramp=0)).start(rgb, depth)
        target = s.controller.peek("Q").numpy()
        view = s.memory.render(
            torch.from_numpy(s.frame.K), torch.from_numpy(target.astype(np.float32)), SIZE, count_seen=False
        )
        before = len(s.memory)
        out[a] = (s.step("Q").rgb, s.memory, before)
    valid = view.mask.numpy()
    shown = (view.features.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    filled = cv2.inpaint(shown, (~valid).astype(np.uint8), 3, cv2.INPAINT_TELEA)  # what warp shows
    closed = cv2.morphologyEx(valid.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
    holes = ~closed
    assert holes.any() and closed.any()
    generated = out[1.0][0]
    # 0: warp's inpainting alone; 0.5: the mean of the two guesses; the covered view never changes
    np.testing.assert_array_equal(out[0.0][0][holes], filled[holes])
    mean = (0.5 * generated.astype(np.float64) + 0.5 * filled.astype(np.float64)).round()
    np.testing.assert_allclose(out[0.5][0][holes].astype(np.float64), mean[holes], atol=1)
    for a in (0.5, 0.0):
        np.testing.assert_array_equal(out[a][0][closed], generated[closed])
    assert not np.array_equal(generated[holes], filled[holes])
    # what is shown in the disocclusions is what enters the point memory
    memory, before = out[0.0][1], out[0.0][2]
    added = (memory.state_dict()["rgb"][before:] * 255).round().to(torch.uint8).numpy()
    assert 0 < len(added) <= holes.sum()
    assert {tuple(c) for c in added} <= {tuple(c) for c in filled[holes]}
    # hole_ramp: the inpainting alone at the disocclusion's border, the generator's share growing
    # with the Euclidean distance to the covered view up to hole_blend
    s = learned_world(tok, path, DitConfig(hole_blend=1.0, hole_ramp=3.0)).start(rgb, depth)
    ramped = s.step("Q").rgb
    w = np.minimum(brute_distance(closed) / 3.0, 1)[..., None]
    expected = (w * generated.astype(np.float64) + (1 - w) * filled.astype(np.float64)).round()
    np.testing.assert_allclose(ramped[holes].astype(np.float64), expected[holes], atol=1)
    np.testing.assert_array_equal(ramped[closed], generated[closed])
    assert (w[holes] < 1).any() and (w[holes] == 1).any()
    # remember_blend: the memory keeps another mix than the one shown (here the inpainting alone)
    s = learned_world(tok, path, DitConfig(hole_blend=1.0, remember_blend=0.0, hole_ramp=0)).start(rgb, depth)
    before = len(s.memory)
    shown_now = s.step("Q").rgb
    np.testing.assert_array_equal(shown_now, generated)
    added = (s.memory.state_dict()["rgb"][before:] * 255).round().to(torch.uint8).numpy()
    assert 0 < len(added) and {tuple(c) for c in added} <= {tuple(c) for c in filled[holes]}
