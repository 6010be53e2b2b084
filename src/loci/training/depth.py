"""Training and evaluation of the monocular :class:`~loci.models.depth.DepthNet` on episode datasets.

``train_depth(cfg)`` samples random frames of ``cfg.data_dir`` (random horizontal flips and brightness
jitter), minimises L1 of log-depth plus a scale-invariant log term (Eigen et al.) over known pixels
(``0 < depth < model.max_depth_m``), validates every ``eval_every`` steps on ``eval_frames`` evenly
spaced frames of ``cfg.eval_dir`` (:func:`evaluate_depth`: AbsRel, δ<1.25, RMSE of log-depth) and writes
atomic safetensors checkpoints (model + AdamW state + step) to ``cfg.checkpoint_dir``; ``resume=True``
continues from the last one. Batches are a pure function of ``(seed, step)``, so a resumed run sees the
same data as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from loci.data.dataset import WindowDataset
from loci.io.atomic import atomic_write_text
from loci.io.configs import config_from_json, config_to_dict
from loci.models.checkpoint import export_weights, load_checkpoint, load_weights, save_checkpoint
from loci.models.depth import DepthNet, DepthNetConfig
from loci.models.loading import DEPTH_KIND as KIND

from .schedule import warmup_cosine
from .tokenizer import pick_device

LAST = "depth_last.safetensors"


@dataclass(frozen=True)
class DepthTrainConfig:
    """Everything one depth training run depends on (JSON: ``configs/depth_*.json``)."""

    data_dir: str
    checkpoint_dir: str
    eval_dir: str | None = None
    model: DepthNetConfig = field(default_factory=DepthNetConfig)
    steps: int = 4000
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    si_weight: float = 0.5  # weight of the scale-invariant log term (next to L1 of log-depth)
    si_lambda: float = 0.85  # 1 = fully scale-invariant, 0 = plain RMSE of log-depth
    flip: bool = True  # random horizontal flips
    brightness_jitter: float = 0.1  # RGB (in [0, 1]) scaled by a factor in [1 - j, 1 + j]
    eval_every: int = 500
    eval_frames: int = 512
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    num_threads: int = 1
    max_minutes: float | None = None  # stop early (with a checkpoint and a validation) after this long
    resume: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or self.warmup_steps < 0:
            raise ValueError("steps must be >= 0, batch_size >= 1, lr > 0 and warmup_steps >= 0")
        if self.eval_every < 1 or self.checkpoint_every < 1 or self.eval_frames < 1:
            raise ValueError("eval_every, checkpoint_every and eval_frames must be >= 1")
        if not 0 <= self.si_lambda <= 1 or self.si_weight < 0:
            raise ValueError("si_lambda must lie in [0, 1] and si_weight be >= 0")
        if not 0 <= self.brightness_jitter < 1:
            raise ValueError(f"brightness_jitter must lie in [0, 1), got {self.brightness_jitter}")


def load_depth_config(path: str | os.PathLike) -> DepthTrainConfig:
    """Read a :class:`DepthTrainConfig` from JSON."""
    return config_from_json(DepthTrainConfig, path)


def sample_batch(dataset: Dataset, cfg: DepthTrainConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``step`` (a pure function of ``(cfg.seed, step)``): ``rgb (B, 3, H, W)`` in [-1, 1], ``depth (B, H, W)``."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    idx = torch.randint(len(dataset), (cfg.batch_size,), generator=g).tolist()
    items = [dataset[i] for i in idx]
    rgb = torch.stack([it["rgb"][0] for it in items])
    depth = torch.stack([it["depth"][0] for it in items])
    flip = torch.rand(cfg.batch_size, generator=g) < 0.5
    gain = 1 + cfg.brightness_jitter * (2 * torch.rand(cfg.batch_size, generator=g) - 1)
    if cfg.flip and bool(flip.any()):
        rgb[flip] = rgb[flip].flip(-1)
        depth[flip] = depth[flip].flip(-1)
    if cfg.brightness_jitter > 0:
        rgb = (((rgb + 1) * gain[:, None, None, None]).clamp(0, 2) - 1).contiguous()
    return rgb, depth


def known_mask(depth: torch.Tensor, max_depth_m: float) -> torch.Tensor:
    """Pixels with usable ground truth: ``0 < depth < max_depth_m`` (same shape as ``depth``)."""
    return (depth > 0) & (depth < max_depth_m)


def depth_loss(
    log_pred: torch.Tensor, depth: torch.Tensor, cfg: DepthTrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """``log_pred (B, H, W)`` (unclamped log-depth) vs ``depth (B, H, W)`` metres, over known pixels.

    ``L1(log d̂ - log d) + si_weight · mean_b sqrt(mean(e²) - λ·mean(e)²)`` with ``e = log d̂ - log d``.
    """
    known = known_mask(depth, cfg.model.max_depth_m)
    e = torch.where(known, log_pred - depth.clamp_min(1e-6).log(), 0.0)  # where: no inf·0 = NaN
    n = known.sum((1, 2)).clamp_min(1).float()
    l1 = e.abs().sum() / n.sum()
    mean, sq = e.sum((1, 2)) / n, e.pow(2).sum((1, 2)) / n
    si = (sq - cfg.si_lambda * mean.pow(2)).clamp_min(1e-8).sqrt().mean()
    loss = l1 + cfg.si_weight * si
    return loss, {"l1_log": l1.item(), "si": si.item()}


def _frames(batch: dict | Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """A :class:`WindowDataset` batch (``rgb (B, 1, 3, H, W)``, ``depth (B, 1, H, W)``) or an
    ``(rgb (B, 3, H, W), depth (B, H, W))`` pair -> the pair."""
    rgb, depth = (batch["rgb"], batch["depth"]) if isinstance(batch, dict) else batch
    if rgb.dim() == 5:
        rgb, depth = rgb[:, 0], depth[:, 0]
    return rgb, depth


@torch.inference_mode()
def evaluate_depth(model: DepthNet, loader: Iterable, max_batches: int | None = None) -> dict:
    """Depth quality of ``model`` over ``loader`` (WindowDataset batches or ``(rgb, depth)`` pairs).

    Pooled over every known pixel (``0 < d < model.cfg.max_depth_m``) of every frame:
    ``abs_rel = mean |d̂ - d| / d``, ``delta1 = share of max(d̂/d, d/d̂) < 1.25``,
    ``rmse_log = sqrt(mean (log d̂ - log d)²)``; also ``frames`` and ``pixels`` counted.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    absrel = delta = sq_log = pixels = 0.0
    frames = 0
    for b, batch in enumerate(loader):
        if max_batches is not None and b >= max_batches:
            break
        rgb, depth = _frames(batch)
        rgb, depth = rgb.to(device), depth.to(device).float()
        pred = model(rgb)
        known = known_mask(depth, model.cfg.max_depth_m)
        d, p = depth[known].double(), pred[known].double()
        absrel += float(((p - d).abs() / d).sum())
        delta += float((torch.maximum(p / d, d / p) < 1.25).sum())
        sq_log += float((p.log() - d.log()).pow(2).sum())
        pixels += float(known.sum())
        frames += rgb.shape[0]
    model.train(was_training)
    n = max(pixels, 1.0)
    return {
        "abs_rel": absrel / n,
        "delta1": delta / n,
        "rmse_log": math.sqrt(sq_log / n),
        "frames": frames,
        "pixels": int(pixels),
    }


def eval_loader(root: str | os.PathLike, frames: int, batch_size: int = 32) -> DataLoader:
    """``frames`` evenly spaced frames of the episodes under ``root`` (always the same ones), in order."""
    dataset = WindowDataset(root, window=1)
    if len(dataset) == 0:
        raise ValueError(f"no episodes found in {root}")
    n = min(frames, len(dataset))
    idx = torch.linspace(0, len(dataset) - 1, n).round().long().tolist() if n > 1 else [0]
    return DataLoader(Subset(dataset, idx), batch_size=batch_size, shuffle=False, num_workers=0)


def export_depth(
    checkpoint: str | os.PathLike, out: str | os.PathLike, metrics: dict[str, Any] | None = None
) -> Path:
    """Write the weights-only (no optimizer) fp32 checkpoint that ships with loci (``models/weights``)."""
    return export_weights(checkpoint, out, KIND, metrics)


def _save(
    path: Path, model: DepthNet, opt: torch.optim.Optimizer, cfg: DepthTrainConfig, step: int, history: list
) -> None:
    extra = {"train_config": config_to_dict(cfg), "history": history[-20:]}
    save_checkpoint(path, model, model.cfg, KIND, step, opt, extra=extra)


def train_depth(cfg: DepthTrainConfig) -> Path:
    """Train (or resume) a depth net; returns the path of the last checkpoint (``<checkpoint_dir>/depth_last.safetensors``)."""
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    out_dir = Path(cfg.checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / LAST
    train_set = WindowDataset(cfg.data_dir, window=1, max_open=256)
    if len(train_set) == 0:
        raise ValueError(f"no episodes found in {cfg.data_dir}")
    val = eval_loader(cfg.eval_dir, cfg.eval_frames) if cfg.eval_dir else None
    model = DepthNet(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    step = 0
    if cfg.resume and last.exists():
        ckpt = load_checkpoint(last, kind=KIND)
        if ckpt.config != config_to_dict(cfg.model):
            raise ValueError(f"{last} was trained with a different model config; use a new checkpoint_dir")
        load_weights(model, ckpt.model_state, str(last))
        if ckpt.optimizer_state is not None:
            opt.load_state_dict(ckpt.optimizer_state)
        step = ckpt.step
    history_path = out_dir / "metrics.json"
    history: list[dict] = json.loads(history_path.read_text()) if step and history_path.exists() else []
    model.train()
    t0 = time.monotonic()
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, desc="depth", dynamic_ncols=True)
    while step < cfg.steps:
        rgb, depth = sample_batch(train_set, cfg, step)
        rgb, depth = rgb.to(device), depth.to(device)
        for group in opt.param_groups:
            group["lr"] = warmup_cosine(step, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)
        loss, parts = depth_loss(model.log_depth(rgb), depth, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", l1_log=f"{parts['l1_log']:.4f}")
        out_of_time = cfg.max_minutes is not None and time.monotonic() - t0 > 60 * cfg.max_minutes
        if val is not None and (step % cfg.eval_every == 0 or step == cfg.steps or out_of_time):
            metrics = {"step": step, "loss": loss.item(), **evaluate_depth(model, val)}
            history.append(metrics)
            atomic_write_text(history_path, json.dumps(history, indent=1))
            bar.write(
                f"step {step}: held-out AbsRel {metrics['abs_rel']:.4f}, δ1 {metrics['delta1']:.4f}, "
                f"RMSE log {metrics['rmse_log']:.4f}"
            )
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
            _save(last, model, opt, cfg, step, history)
        if out_of_time:
            bar.write(f"stopping at step {step}: max_minutes={cfg.max_minutes} reached")
            break
    bar.close()
    if not last.exists():
        _save(last, model, opt, cfg, step, history)
    return last
