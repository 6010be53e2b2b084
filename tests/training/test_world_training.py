"""World-model training and the ``dit`` backend end to end, with tiny random models on synthetic episodes."""

import numpy as np
import pytest
import torch

from loci.data.generate import generate
from loci.models import DiTConfig, Tokenizer, TokenizerConfig
from loci.training.checkpoint import save_checkpoint
from loci.training.world import WorldTrainConfig, load_world_model, train_world
from loci.world import World, WorldConfig

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


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
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
    tok = save_checkpoint(root / "tok.safetensors", Tokenizer(TOK), TOK, "tokenizer")
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
    from loci.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(again, "world")
    assert ckpt.step == 5 and np.isfinite(ckpt.extra["history"][-1]["loss"])
    with pytest.raises(ValueError, match="another model config"):
        train_world(
            WorldTrainConfig(
                **{**cfg.__dict__, "model": DiTConfig(**{**DIT.__dict__, "width": 16}), "steps": 6}
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
    with pytest.raises(ValueError, match="not supported"):
        s1.save(root / "dit.safetensors")
    with pytest.raises(ValueError, match="world_checkpoint"):
        World(WorldConfig(backend="dit")).start(rgb, depth)
