"""Checkpoints: exact round trip, config-vs-weights validation, corrupt files, deterministic resume."""

import dataclasses
import json

import pytest
import torch

from loci.data.dataset import WindowDataset
from loci.data.generate import generate
from loci.models import Tokenizer, TokenizerConfig
from loci.training import (
    TokenizerTrainConfig,
    load_checkpoint,
    load_tokenizer,
    save_checkpoint,
    train_tokenizer,
)
from loci.training.tokenizer import sample_batch, tokenizer_loss

TINY = TokenizerConfig(
    latent_channels=4, widths=(4, 8, 8), encoder_blocks=(0, 1, 0), decoder_blocks=(0, 1, 0)
)


def trained_model_and_optimizer():
    torch.manual_seed(0)
    model = Tokenizer(TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(2, 4, 16, 16)
    for _ in range(2):
        loss = (model.decode_x(model.encode_x(x)) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def test_round_trip_is_exact(tmp_path):
    model, opt = trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "t.safetensors", model, TINY, "tokenizer", step=7, optimizer=opt)
    ckpt = load_checkpoint(path, kind="tokenizer")
    assert ckpt.step == 7 and ckpt.kind == "tokenizer"
    assert ckpt.config == dataclasses.asdict(TINY) | {"widths": [4, 8, 8], "encoder_blocks": [0, 1, 0],
                                                      "decoder_blocks": [0, 1, 0]}  # fmt: skip
    loaded = load_tokenizer(path)
    for name, t in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], t), name
    opt2 = torch.optim.AdamW(loaded.parameters(), lr=1e-3)
    opt2.load_state_dict(ckpt.optimizer_state)
    ref, got = opt.state_dict(), opt2.state_dict()
    assert ref["param_groups"] == got["param_groups"]
    for i, per_param in ref["state"].items():
        for key, value in per_param.items():
            assert torch.equal(got["state"][i][key], value), (i, key)


def test_weights_that_do_not_match_their_config_raise(tmp_path):
    model, _ = trained_model_and_optimizer()
    other = dataclasses.replace(TINY, widths=(4, 8, 12))
    path = save_checkpoint(tmp_path / "t.safetensors", model, other, "tokenizer")
    with pytest.raises(ValueError, match=r"does not match its config: tensor 'encoder\.downs\.1\.weight'"):
        load_tokenizer(path)
    state = {k: v for k, v in model.state_dict().items() if k != "decoder.conv_out.bias"}
    path = save_checkpoint(tmp_path / "m.safetensors", state, TINY, "tokenizer")
    with pytest.raises(ValueError, match=r"missing tensor 'decoder\.conv_out\.bias'"):
        load_tokenizer(path)


def test_corrupt_or_foreign_files_raise(tmp_path):
    model, _ = trained_model_and_optimizer()
    good = save_checkpoint(tmp_path / "t.safetensors", model, TINY, "tokenizer").read_bytes()
    bad = tmp_path / "bad.safetensors"
    for data in (b"not a checkpoint at all", good[: len(good) // 2], b"\xff" * 8 + good[8:]):
        bad.write_bytes(data)
        with pytest.raises(ValueError, match="not a readable safetensors checkpoint"):
            load_checkpoint(bad)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="expected 'dit'"):
        load_checkpoint(tmp_path / "t.safetensors", kind="dit")


def test_resume_gives_the_same_weights_and_next_loss(tmp_path):
    data = tmp_path / "data"
    generate(
        "synthetic", ["room"], 2, 6, data, workers=1, engine_overrides={"size": (24, 32)}, progress=False
    )
    cfg = TokenizerTrainConfig(data_dir=str(data), checkpoint_dir=str(tmp_path / "a"), model=TINY, steps=4,
                               batch_size=4, crops_per_frame=2, crop=(16, 16), warmup_steps=2,
                               checkpoint_every=100, num_threads=1, progress=False)  # fmt: skip
    whole = load_tokenizer(train_tokenizer(cfg))
    split = dataclasses.replace(cfg, checkpoint_dir=str(tmp_path / "b"))
    assert load_checkpoint(train_tokenizer(split, until=2)).step == 2
    path = train_tokenizer(split)  # resumes at step 2
    assert load_checkpoint(path).step == 4
    resumed = load_tokenizer(path)
    for name, t in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], t), name
    rgb, depth, scale = sample_batch(WindowDataset(data, window=1), cfg, 4)
    losses = [
        tokenizer_loss(m, m.to_input(rgb, depth, scale)[0], depth > 0, cfg)[0] for m in (whole, resumed)
    ]
    assert losses[0].item() == losses[1].item()

    # decoder-only fine-tuning from those weights: the encoder (the world model's latent space) stays
    # bit-identical, the decoder moves; a mismatching init checkpoint is refused
    ft = dataclasses.replace(cfg, checkpoint_dir=str(tmp_path / "ft"), init_from=str(path), latent_noise=0.5,
                             train_parts="decoder", rgb_loss="mse", lr=1e-2)  # fmt: skip
    tuned = load_tokenizer(train_tokenizer(ft))
    for name, t in whole.state_dict().items():
        same = torch.equal(tuned.state_dict()[name], t)
        assert same == name.startswith("encoder."), name
    other = dataclasses.replace(ft, model=dataclasses.replace(TINY, latent_channels=2),
                                checkpoint_dir=str(tmp_path / "bad"))  # fmt: skip
    with pytest.raises(ValueError, match="init_from"):
        train_tokenizer(other)
    missing = dataclasses.replace(ft, init_from=str(tmp_path / "none.safetensors"),
                                  checkpoint_dir=str(tmp_path / "missing"))  # fmt: skip
    with pytest.raises(ValueError, match="does not exist: train the tokenizer it starts from first"):
        train_tokenizer(missing)
    with pytest.raises(ValueError, match="train_parts"):
        dataclasses.replace(ft, train_parts="encoder")

    # the latent anchor: a whole-model fine-tune whose encoder learns but whose latents stay near the
    # init encoder's (the world model's latent space), measured on a batch against the init model
    free = dataclasses.replace(ft, train_parts="all", latent_noise=0.0, checkpoint_dir=str(tmp_path / "free"))
    anchored = dataclasses.replace(free, latent_anchor=1e3, checkpoint_dir=str(tmp_path / "anchored"),
                                   eval_dir=str(data), eval_every=4, eval_frames=2)  # fmt: skip
    x = whole.to_input(rgb, depth, scale)[0]

    def drift(cfg):
        tuned = load_tokenizer(train_tokenizer(cfg))
        moved = any(not torch.equal(tuned.state_dict()[k], t) for k, t in whole.state_dict().items()
                    if k.startswith("encoder."))  # fmt: skip
        assert moved, "the encoder must learn"
        with torch.no_grad():
            z0, z = whole.encode_x(x), tuned.encode_x(x)
        return ((z - z0).pow(2).mean() / z0.pow(2).mean()).sqrt().item()

    assert drift(anchored) < 0.5 * drift(free)
    assert "drift" in json.loads((tmp_path / "anchored" / "metrics.json").read_text())[-1]
    with pytest.raises(ValueError, match="latent_anchor"):
        dataclasses.replace(anchored, init_from=None)
    with pytest.raises(ValueError, match="latent_anchor"):
        dataclasses.replace(anchored, train_parts="decoder")


def _data_offset(blob: bytes) -> int:
    """Where a safetensors file's tensor data starts (8-byte little-endian header length, then JSON)."""
    return 8 + int.from_bytes(blob[:8], "little")


def test_bit_flips_nan_versions_and_manifests_are_refused(tmp_path):
    """Every corruption of the tensor data is caught by the recorded digest (random single-bit flips,
    checked against safetensors reading them fine); NaN written by a buggy trainer, an unknown
    version and a manifest mismatch are refused by name; a version-1 file without digest loads."""
    import hashlib
    import random

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model, _ = trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "t.safetensors", model, TINY, "tokenizer")
    good = path.read_bytes()
    load_checkpoint(path)
    rng = random.Random(0)
    bad = tmp_path / "flipped.safetensors"
    start = _data_offset(good)
    for _ in range(24):
        blob = bytearray(good)
        i = rng.randrange(start, len(blob))
        blob[i] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(blob))
        load_file(str(bad))  # safetensors itself reads it without complaint
        with pytest.raises(ValueError, match="is corrupt: its tensor data does not match"):
            load_checkpoint(bad)

    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["decoder.conv_out.bias"][0] = float("nan")
    nan = save_checkpoint(tmp_path / "nan.safetensors", state, TINY, "tokenizer")
    with pytest.raises(ValueError, match=r"tensor 'model\.decoder\.conv_out\.bias' holds 1 NaN/inf"):
        load_checkpoint(nan)

    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    tensors = load_file(str(path))
    future = tmp_path / "future.safetensors"
    save_file(tensors, str(future), metadata=meta | {"version": "9"})
    with pytest.raises(ValueError, match="checkpoint version '9' is not supported"):
        load_checkpoint(future)
    stripped = tmp_path / "stripped.safetensors"
    save_file(tensors, str(stripped), metadata={k: v for k, v in meta.items() if k != "tensors_sha256"})
    with pytest.raises(ValueError, match="without tensors_sha256"):
        load_checkpoint(stripped)

    legacy_dir = tmp_path / "legacy"
    legacy_dir.mkdir()
    legacy = legacy_dir / "v1.safetensors"
    v1 = {k: v for k, v in meta.items() if k != "tensors_sha256"} | {"version": "1"}
    save_file(tensors, str(legacy), metadata=v1)
    load_checkpoint(legacy)  # no digest to check: still loads
    digest = hashlib.sha256(legacy.read_bytes()).hexdigest()
    (legacy_dir / "SHA256SUMS").write_text(f"{digest}  v1.safetensors\n")
    load_checkpoint(legacy)
    (legacy_dir / "SHA256SUMS").write_text(f"{'0' * 64}  v1.safetensors\n")
    with pytest.raises(ValueError, match=r"is corrupt: its SHA-256 .* is not 000000000000"):
        load_checkpoint(legacy)


def test_the_shipped_weights_match_their_manifest():
    """SHA256SUMS beside the shipped weights lists each file's hashlib digest, and they load."""
    import hashlib

    from loci.models import SHIPPED_TOKENIZER

    folder = SHIPPED_TOKENIZER.parent
    listed = dict(line.split("  ")[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    shipped = sorted(p.name for p in folder.glob("*.safetensors"))
    assert sorted(listed) == shipped
    from loci.memory.light import load_light_falloff

    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
        (load_light_falloff if name.startswith("light") else load_checkpoint)(folder / name)
