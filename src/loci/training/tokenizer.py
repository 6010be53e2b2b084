"""Training and evaluation of the 4D-state :class:`~loci.models.Tokenizer` on episode datasets.

``train_tokenizer(cfg)`` samples random frames (and random crops) from ``cfg.data_dir``, minimises
L1 on RGB + L1 on normalised square-root disparity + a log term on known depth (≈ relative depth error),
validates every ``eval_every`` steps on ``cfg.eval_dir`` (RGB PSNR, depth AbsRel, δ<1.25), and writes
atomic safetensors checkpoints (model + AdamW state + step) to ``cfg.checkpoint_dir``; ``resume=True``
continues from the last one. Batches are a pure function of ``(seed, step)``, so a resumed run sees the
same data and gives the same losses as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from loci.data.dataset import WindowDataset
from loci.io.atomic import atomic_write_text
from loci.io.configs import config_from_json, config_to_dict
from loci.models.checkpoint import export_weights, load_checkpoint, load_weights, save_checkpoint
from loci.models.loading import TOKENIZER_KIND as KIND
from loci.models.tokenizer import Tokenizer, TokenizerConfig, normalize_depth

from .schedule import warmup_cosine

LAST = "tokenizer_last.safetensors"


@dataclass(frozen=True)
class TokenizerTrainConfig:
    """Everything one tokenizer training run depends on (JSON: ``configs/tokenizer_*.json``)."""

    data_dir: str | tuple[str, ...]  # one dataset directory, or several mixed (e.g. two engines)
    checkpoint_dir: str
    eval_dir: str | tuple[str, ...] | None = None
    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    crop: tuple[int, int] | None = (64, 64)  # (h, w) random crop, multiples of the downsample; None = full
    crops_per_frame: int = 1  # crops taken from each sampled frame (batch_size must be a multiple)
    rgb_weight: float = 1.0
    depth_weight: float = 1.0
    depth_log_weight: float = 0.25  # L1 of log sqrt-disparity on known pixels (= half log-depth error)
    depth_grad_weight: float = 0.0  # L1 of the image gradients of the normalised sqrt-disparity
    eval_every: int = 500
    eval_frames: int = 256
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    num_threads: int = 2
    max_minutes: float | None = None  # stop early (with a checkpoint) after this much wall time
    resume: bool = True
    progress: bool = True
    init_from: str | None = None  # a fresh run starts from these weights (fresh optimizer) instead of random
    train_parts: str = "all"  # "all", or "decoder": the encoder stays frozen, so the latents a world
    # model was trained on keep their meaning while the decoder improves
    rgb_loss: str = "l1"  # "l1", or "mse" (what PSNR measures; for fine-tuning)
    latent_noise: float = 0.0  # decode z + σ·ε, σ ~ U(0, latent_noise) per frame, against the clean
    # target: a decoder robust to the imperfect latents a world model generates
    latent_anchor: float = 0.0  # weight of the latents' relative drift ‖z − z₀‖² / ‖z₀‖² from those of
    # the init_from encoder (kept frozen): the encoder learns while the latent space a world model was
    # trained on keeps its meaning. Needs init_from and train_parts "all".

    def __post_init__(self) -> None:
        if self.train_parts not in ("all", "decoder"):
            raise ValueError(f"train_parts must be 'all' or 'decoder', got {self.train_parts!r}")
        if self.latent_noise < 0:
            raise ValueError(f"latent_noise must be >= 0, got {self.latent_noise}")
        if self.latent_anchor < 0:
            raise ValueError(f"latent_anchor must be >= 0, got {self.latent_anchor}")
        if self.latent_anchor > 0 and (self.init_from is None or self.train_parts != "all"):
            raise ValueError(
                "latent_anchor keeps the encoder near init_from's: it needs init_from and train_parts='all'"
            )
        if self.rgb_loss not in ("l1", "mse"):
            raise ValueError(f"rgb_loss must be 'l1' or 'mse', got {self.rgb_loss!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("steps must be >= 0, batch_size >= 1 and lr > 0")
        if self.crops_per_frame < 1 or self.batch_size % self.crops_per_frame:
            raise ValueError("crops_per_frame must be >= 1 and divide batch_size")
        f = self.model.downsample
        if self.crop is not None and (self.crop[0] % f or self.crop[1] % f):
            raise ValueError(f"crop {self.crop} must be multiples of the downsample factor {f}")


def load_train_config(path: str | os.PathLike) -> TokenizerTrainConfig:
    """Read a :class:`TokenizerTrainConfig` from JSON."""
    return config_from_json(TokenizerTrainConfig, path)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_at(cfg: TokenizerTrainConfig, step: int) -> float:
    """Linear warm-up then cosine decay to ``min_lr_ratio · lr`` at ``cfg.steps``."""
    return warmup_cosine(step, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)


def frame(dataset: Dataset, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first frame of dataset item ``i``: ``rgb (3, H, W)``, ``depth (H, W)``."""
    item = dataset[i]
    return item["rgb"][0], item["depth"][0]


def sample_batch(
    dataset: Dataset, cfg: TokenizerTrainConfig, step: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch ``step``: ``rgb (B, 3, h, w)``, ``depth (B, h, w)``, per-frame depth ``scale (B,)``.

    A pure function of ``(cfg.seed, step)``. The scale is each *full* frame's maximum sqrt-disparity
    (the same normalisation as :meth:`Tokenizer.encode` at inference), then the frame is cropped.
    """
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    repeat = cfg.crops_per_frame if cfg.crop is not None else 1
    idx = torch.randint(len(dataset), (cfg.batch_size // repeat,), generator=g).tolist()
    frames = [frame(dataset, i) for i in idx]
    rgb = torch.stack([f[0] for f in frames]).repeat_interleave(repeat, 0)
    depth = torch.stack([f[1] for f in frames]).repeat_interleave(repeat, 0)
    _, scale = normalize_depth(depth, None, cfg.model.depth_lambda)
    if cfg.crop is not None:
        ch, cw = cfg.crop
        h, w = depth.shape[-2:]
        ys = torch.randint(h - ch + 1, (cfg.batch_size,), generator=g).tolist()
        xs = torch.randint(w - cw + 1, (cfg.batch_size,), generator=g).tolist()
        rgb = torch.stack(
            [rgb[b, :, y : y + ch, x : x + cw] for b, (y, x) in enumerate(zip(ys, xs, strict=True))]
        )
        depth = torch.stack(
            [depth[b, y : y + ch, x : x + cw] for b, (y, x) in enumerate(zip(ys, xs, strict=True))]
        )
    return rgb, depth, scale


def tokenizer_loss(
    model: Tokenizer,
    x: torch.Tensor,
    known: torch.Tensor,
    cfg: TokenizerTrainConfig,
    generator: torch.Generator | None = None,
    anchor: Tokenizer | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction loss of network input ``x (B, 4, H, W)``; ``known (B, H, W)`` marks known depth.
    With ``cfg.latent_noise`` the latents are perturbed with noise drawn from ``generator``. With
    ``anchor`` (the frozen init encoder) ``cfg.latent_anchor`` weighs the latents' relative drift from
    its latents (reported as ``drift``, the relative RMS change)."""
    z = model.encode_x(x)
    drift = None
    if anchor is not None:
        with torch.no_grad():
            z0 = anchor.encode_x(x).float()
        drift = (z.float() - z0).pow(2).mean() / z0.pow(2).mean().clamp_min(1e-12)
    if cfg.latent_noise > 0:
        sigma = torch.rand(len(z), 1, 1, 1, generator=generator) * cfg.latent_noise
        z = z + (sigma * torch.randn(z.shape, generator=generator)).to(z.device, z.dtype)
    y = model.decode_x(z).float()
    err = y[:, :3] - x[:, :3]
    l_rgb = err.pow(2).mean() if cfg.rgb_loss == "mse" else err.abs().mean()
    e_hat, e = y[:, 3], x[:, 3]
    l_depth = (e_hat - e).abs().mean()
    k = known.float()
    log_err = (e_hat.clamp_min(1e-3).log() - e.clamp_min(1e-3).log()).abs()
    l_log = (log_err * k).sum() / k.sum().clamp_min(1.0)
    loss = cfg.rgb_weight * l_rgb + cfg.depth_weight * l_depth + cfg.depth_log_weight * l_log
    parts = {"rgb": l_rgb.item(), "depth": l_depth.item(), "log": l_log.item()}
    if drift is not None:
        loss = loss + cfg.latent_anchor * drift
        parts["drift"] = drift.sqrt().item()  # relative RMS change of the latents
    if cfg.depth_grad_weight > 0:
        d = e_hat - e
        l_grad = (d[:, 1:] - d[:, :-1]).abs().mean() + (d[:, :, 1:] - d[:, :, :-1]).abs().mean()
        loss = loss + cfg.depth_grad_weight * l_grad
        parts["grad"] = l_grad.item()
    return loss, parts


@torch.inference_mode()
def evaluate_tokenizer(model: Tokenizer, dataset: Dataset, n_frames: int = 256, batch_size: int = 32) -> dict:
    """Reconstruct ``n_frames`` evenly spaced frames of ``dataset`` (first frame of each item).

    Returns ``psnr_rgb`` (dB, mean over frames, RGB mapped to [0, 1]), ``depth_absrel`` (mean
    ``|d̂ - d| / d``) and ``depth_delta1`` (share with ``max(d̂/d, d/d̂) < 1.25``), both over every pixel
    with known ground-truth depth (a pixel decoded as unknown counts as AbsRel 1 and a δ miss), and
    ``unknown_accuracy`` (share of pixels whose known/unknown status is reconstructed right).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    n = min(n_frames, len(dataset))
    idx = torch.linspace(0, len(dataset) - 1, n).round().long().tolist() if n > 1 else [0]
    psnrs: list[torch.Tensor] = []
    absrel = delta = known_n = unknown_ok = total = 0.0
    for start in range(0, n, batch_size):
        frames = [frame(dataset, i) for i in idx[start : start + batch_size]]
        rgb = torch.stack([f[0] for f in frames]).to(device)
        depth = torch.stack([f[1] for f in frames]).to(device)
        z, scale = model.encode(rgb, depth)
        rgb_hat, depth_hat = model.decode(z, scale)
        mse = ((rgb_hat - rgb) / 2).pow(2).flatten(1).mean(1)
        psnrs.append(-10 * torch.log10(mse.clamp_min(1e-10)))
        known = depth > 0
        d, dh = depth[known], depth_hat[known]
        absrel += float(((dh - d).abs() / d).sum())
        ratio = torch.maximum(dh / d, d / dh.clamp_min(1e-12))
        delta += float((ratio < 1.25).sum())
        known_n += float(known.sum())
        unknown_ok += float(((depth_hat > 0) == known).sum())
        total += depth.numel()
    model.train(was_training)
    return {
        "psnr_rgb": float(torch.cat(psnrs).mean()),
        "depth_absrel": absrel / max(known_n, 1.0),
        "depth_delta1": delta / max(known_n, 1.0),
        "unknown_accuracy": unknown_ok / max(total, 1.0),
        "frames": n,
    }


def export_tokenizer(
    checkpoint: str | os.PathLike, out: str | os.PathLike, metrics: dict[str, Any] | None = None
) -> Path:
    """Write the weights-only (no optimizer) fp32 checkpoint that ships with loci."""
    return export_weights(checkpoint, out, KIND, metrics)


def _save(
    path: Path, model: Tokenizer, opt: torch.optim.Optimizer, cfg: TokenizerTrainConfig, step: int
) -> None:
    save_checkpoint(path, model, model.cfg, KIND, step, opt, extra={"train_config": config_to_dict(cfg)})


def train_tokenizer(cfg: TokenizerTrainConfig, until: int | None = None) -> Path:
    """Train (or resume) a tokenizer; returns the path of the last checkpoint.

    ``until``: stop (with a checkpoint) after this step although the LR schedule spans ``cfg.steps`` —
    a run split into pieces this way gives the same weights as an uninterrupted one.
    """
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    out_dir = Path(cfg.checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / LAST
    train_set = WindowDataset(cfg.data_dir, window=1)
    if len(train_set) == 0:
        raise ValueError(f"no episodes found in {cfg.data_dir}")
    eval_set = WindowDataset(cfg.eval_dir, window=1) if cfg.eval_dir else None
    model = Tokenizer(cfg.model).to(device)
    resuming = cfg.resume and last.exists()
    anchor = None
    if cfg.init_from is not None and (not resuming or cfg.latent_anchor > 0):
        if not Path(cfg.init_from).exists():
            raise ValueError(
                f"init_from {cfg.init_from} does not exist: train the tokenizer it starts from first"
            )
        init = load_checkpoint(cfg.init_from, kind=KIND)
        if init.config != config_to_dict(cfg.model):
            raise ValueError(f"init_from {cfg.init_from} has a different model config than {cfg.model}")
        if not resuming:
            load_weights(model, init.model_state, str(cfg.init_from))
        if cfg.latent_anchor > 0:  # the init encoder, also when resuming: the drift is measured from it
            anchor = load_weights(Tokenizer(cfg.model), init.model_state, str(cfg.init_from))
            anchor = anchor.to(device).eval().requires_grad_(False)
    trained = model.decoder if cfg.train_parts == "decoder" else model
    model.encoder.requires_grad_(cfg.train_parts == "all")
    opt = torch.optim.AdamW(trained.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    step = 0
    if resuming:
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
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, desc="tokenizer", dynamic_ncols=True)
    end = cfg.steps if until is None else min(until, cfg.steps)
    while step < end:
        rgb, depth, scale = sample_batch(train_set, cfg, step)
        x, _ = model.to_input(rgb, depth, scale)
        x, known = x.to(device), (depth > 0).to(device)
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            noise = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step + 7_919)
            loss, parts = tokenizer_loss(model, x, known, cfg, noise, anchor)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trained.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        shown = {k: f"{v:.4f}" for k, v in parts.items() if k != "depth"}
        bar.set_postfix(loss=f"{loss.item():.4f}", **shown)
        out_of_time = cfg.max_minutes is not None and time.monotonic() - t0 > 60 * cfg.max_minutes
        if eval_set is not None and (step % cfg.eval_every == 0 or step == cfg.steps or out_of_time):
            metrics = {
                "step": step,
                "loss": loss.item(),
                **({"drift": parts["drift"]} if "drift" in parts else {}),
                **evaluate_tokenizer(model, eval_set, cfg.eval_frames),
            }
            history.append(metrics)
            atomic_write_text(history_path, json.dumps(history, indent=1))
            bar.write(
                f"step {step}: held-out PSNR {metrics['psnr_rgb']:.2f} dB, depth AbsRel "
                f"{metrics['depth_absrel']:.4f}, δ1 {metrics['depth_delta1']:.4f}"
            )
        if step % cfg.checkpoint_every == 0 or step == end or out_of_time:
            _save(last, model, opt, cfg, step)
        if out_of_time:
            bar.write(f"stopping at step {step}: max_minutes={cfg.max_minutes} reached")
            break
    bar.close()
    if not last.exists():
        _save(last, model, opt, cfg, step)
    return last
