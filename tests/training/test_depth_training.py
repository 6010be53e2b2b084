"""Depth-net training on tiny synthetic episodes: it learns, checkpoints round-trip, metrics are exact."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from loci.cli import main as cli_main
from loci.data.dataset import WindowDataset
from loci.data.generate import generate
from loci.io.configs import config_to_dict
from loci.models.checkpoint import load_checkpoint, save_checkpoint
from loci.models.depth import DepthNet, DepthNetConfig
from loci.models.loading import load_depth_model
from loci.training.depth import (
    DepthTrainConfig,
    depth_loss,
    eval_loader,
    evaluate_depth,
    load_depth_config,
    sample_batch,
    train_depth,
)

SIZE = (32, 48)
NET = DepthNetConfig(widths=(8, 8, 16), encoder_blocks=(0, 1, 1), decoder_blocks=(0, 1, 0))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("depth")
    for seed, out, episodes, frames in ((0, "train", 4, 16), (100, "test", 2, 12)):
        generate(  # held-out episodes: other seeds (start poses) in the same room
            "synthetic",
            ["room"],
            episodes,
            frames,
            root / out,
            policy="random_walk",
            seed=seed,
            workers=1,
            engine_overrides={"size": SIZE},
            progress=False,
        )
    cfg = DepthTrainConfig(
        data_dir=str(root / "train"),
        eval_dir=str(root / "test"),
        checkpoint_dir=str(root / "ckpt"),
        model=NET,
        steps=100,
        batch_size=8,
        lr=1e-3,
        warmup_steps=5,
        eval_every=100,
        eval_frames=24,
        checkpoint_every=30,
        num_threads=1,
        progress=False,
    )
    return root, cfg


def test_training_improves_held_out_abs_rel_and_resumes(setup):
    _, cfg = setup
    torch.manual_seed(cfg.seed)
    untrained = DepthNet(cfg.model)  # the same initial weights as train_depth's model
    val = eval_loader(cfg.eval_dir, cfg.eval_frames)
    before = evaluate_depth(untrained, val)
    path = train_depth(cfg)
    model = load_depth_model(path)
    after = evaluate_depth(model, val)
    # AbsRel is dominated by a few far over-estimates on this one-texture room; δ1 and RMSE-log move more
    assert after["abs_rel"] < before["abs_rel"], (before, after)
    assert after["delta1"] > before["delta1"] + 0.15 and after["rmse_log"] < 0.9 * before["rmse_log"]
    ckpt = load_checkpoint(path, "depth")
    assert ckpt.step == 100 and ckpt.extra["history"][-1]["abs_rel"] == pytest.approx(after["abs_rel"])
    again = train_depth(dataclasses.replace(cfg, steps=102))  # resumes at step 100
    assert load_checkpoint(again, "depth").step == 102
    with pytest.raises(ValueError, match="different model config"):
        train_depth(dataclasses.replace(cfg, steps=104, model=dataclasses.replace(NET, widths=(8, 8, 8))))


def test_checkpoint_round_trip_and_mismatched_config(tmp_path):
    torch.manual_seed(3)
    model = DepthNet(NET)
    path = save_checkpoint(tmp_path / "d.safetensors", model, NET, "depth")
    loaded = load_depth_model(path)
    assert loaded.cfg == NET and not loaded.training
    x = torch.rand(2, 3, *SIZE) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    other = dataclasses.replace(NET, widths=(8, 8, 8))
    bad = save_checkpoint(tmp_path / "bad.safetensors", model, other, "depth")  # weights of NET
    with pytest.raises(ValueError, match="does not match its config"):
        load_depth_model(bad)
    foreign = save_checkpoint(tmp_path / "tok.safetensors", model, NET, "tokenizer")
    with pytest.raises(ValueError, match="expected 'depth'"):
        load_depth_model(foreign)


class FixedPrediction(nn.Module):
    """Stands in for a DepthNet: returns hand-made predictions, batch after batch."""

    def __init__(self, preds: list[torch.Tensor], max_depth_m: float):
        super().__init__()
        self.cfg = DepthNetConfig(max_depth_m=max_depth_m)
        self.dummy = nn.Parameter(torch.zeros(1))
        self.preds = iter(preds)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return next(self.preds)


def test_evaluate_depth_matches_numpy_closed_forms():
    rng = np.random.default_rng(0)
    gts, preds, batches = [], [], []
    for b in (3, 2):  # two batches of different sizes: metrics pool over pixels
        gt = rng.uniform(0.5, 30.0, (b, 6, 7)).astype(np.float32)
        gt[rng.random(gt.shape) < 0.2] = 0.0  # unknown
        gt[0, 0, :3] = 45.0  # beyond max_depth_m = 40: ignored
        pred = (gt * np.exp(rng.normal(0, 0.3, gt.shape)) + 0.1).astype(np.float32)
        gts.append(gt)
        preds.append(pred)
        batches.append((torch.zeros(b, 3, 6, 7), torch.from_numpy(gt)))
    model = FixedPrediction([torch.from_numpy(p) for p in preds], max_depth_m=40.0)
    got = evaluate_depth(model, batches)
    gt, pred = np.concatenate(gts), np.concatenate(preds)
    k = (gt > 0) & (gt < 40.0)
    d, p = gt[k].astype(np.float64), pred[k].astype(np.float64)
    assert got["pixels"] == k.sum() and got["frames"] == 5
    assert got["abs_rel"] == pytest.approx(np.mean(np.abs(p - d) / d), rel=1e-9)
    assert got["delta1"] == pytest.approx(np.mean(np.maximum(p / d, d / p) < 1.25), rel=1e-9)
    assert got["rmse_log"] == pytest.approx(np.sqrt(np.mean((np.log(p) - np.log(d)) ** 2)), rel=1e-9)


def test_loss_is_zero_at_the_truth_and_ignores_unknown_pixels():
    cfg = DepthTrainConfig(data_dir="x", checkpoint_dir="y", model=NET)
    depth = torch.rand(2, 8, 8) * 10 + 0.5
    depth[0, :2] = 0.0
    log_pred = depth.clamp_min(1e-6).log()
    log_pred[0, :2] = 123.0  # anything where the truth is unknown
    loss, parts = depth_loss(log_pred, depth, cfg)
    assert float(loss) == pytest.approx(0.0, abs=1e-3) and parts["l1_log"] == pytest.approx(0.0, abs=1e-6)
    _, parts2 = depth_loss(depth.clamp_min(0.5).log() + math.log(2.0), depth.clamp_min(0.5), cfg)
    assert parts2["l1_log"] == pytest.approx(math.log(2.0), rel=1e-5)
    assert parts2["si"] == pytest.approx(math.sqrt(1 - cfg.si_lambda) * math.log(2.0), rel=1e-3)


def test_batches_are_deterministic_and_flip_rgb_with_depth(setup):
    _, cfg = setup
    cfg = dataclasses.replace(cfg, brightness_jitter=0.0, batch_size=16)
    ds = WindowDataset(cfg.data_dir, window=1)
    rgb, depth = sample_batch(ds, cfg, 7)
    rgb2, depth2 = sample_batch(ds, cfg, 7)
    torch.testing.assert_close(rgb, rgb2, rtol=0, atol=0)
    torch.testing.assert_close(depth, depth2, rtol=0, atol=0)
    flips = 0
    for b in range(cfg.batch_size):
        matches = [
            i
            for i in range(len(ds))
            if torch.equal(ds[i]["depth"][0], depth[b]) and torch.equal(ds[i]["rgb"][0], rgb[b])
        ]
        mirrored = [
            i
            for i in range(len(ds))
            if torch.equal(ds[i]["depth"][0].flip(-1), depth[b])
            and torch.equal(ds[i]["rgb"][0].flip(-1), rgb[b])
        ]
        assert matches or mirrored
        flips += not matches
    assert 0 < flips < cfg.batch_size


def test_config_json_and_cli(setup, tmp_path, capsys):
    cfg = load_depth_config("configs/depth_tiny.json")
    assert cfg.data_dir == "data/doom_train" and cfg.model.max_depth_m == 60.0 and cfg.num_threads == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data_dir": "a", "checkpoint_dir": "b", "stepz": 3}))
    with pytest.raises(ValueError, match="stepz"):
        load_depth_config(bad)
    _, base = setup
    run = dataclasses.replace(base, checkpoint_dir=str(tmp_path / "cli"), steps=2, eval_dir=None)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config_to_dict(run)))
    assert cli_main(["train", "depth", "--config", str(path)]) == 0
    assert "depth_last.safetensors" in capsys.readouterr().out
