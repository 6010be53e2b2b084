"""Training the causal world model: rectified flow over tokenizer latents, per-frame noise, CFG dropout.

One batch: windows of ``window`` frames from the episode datasets → the frozen tokenizer encodes
them to latents ``(B, T, C, h, w)`` (each window's depth scaled by its first frame, DeepVerse) →
the DiT predicts the flow velocity, conditioned on Plücker rays of the window's poses (rebased on
its first frame), the key action of every frame and, when the model has memory channels, the
earlier frames' latents warped to each frame (degraded as NeoVerse does), each condition dropped
with its own probability for classifier-free guidance. Two objectives:

- ``teacher_forcing`` (default): clean history frames (a little noise at most, no memory channels,
  as the KV cache holds them at play time) and noisy copies of the frames after the first chunk,
  in one pass (:meth:`CausalDiT.teacher_forced`). The loss is on the noisy copies.
- ``diffusion_forcing``: one sequence with a flow time per frame under the block-causal mask
  (no memory channels).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from loci.control import action_id
from loci.data.dataset import WindowDataset
from loci.data.degrade import DegradeConfig
from loci.io import config_from_json, config_to_dict
from loci.models import CausalDiT, Conditions, DiTConfig, Tokenizer, drop_conditions, latent_plucker
from loci.models.checkpoint import load_checkpoint, load_weights, save_checkpoint
from loci.models.loading import WORLD_KIND as KIND
from loci.models.loading import load_tokenizer

from .flow import FlowConfig, add_noise, flow_loss, sample_times
from .memory_conditions import window_memory_conditions
from .schedule import warmup_cosine
from .tokenizer import pick_device


@dataclass(frozen=True)
class WorldTrainConfig:
    """Everything one world-model training run depends on (JSON: ``configs/world_*.json``)."""

    data_dir: str | tuple[str, ...]  # one dataset directory, or several mixed (e.g. two engines)
    tokenizer: str
    checkpoint_dir: str
    eval_dir: str | tuple[str, ...] | None = None
    model: DiTConfig = field(default_factory=DiTConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    window: int = 8
    frame_stride: int = 1
    steps: int = 1000
    batch_size: int = 4
    lr: float = 3e-4
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    drop_action: float = 0.1
    drop_camera: float = 0.1
    drop_memory: float = 0.1
    objective: str = "teacher_forcing"
    history_noise: float = 0.1
    p_history_noise: float = 0.5
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    eval_every: int = 250
    eval_batches: int = 4
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    num_threads: int = 2
    max_minutes: float | None = None
    resume: bool = True
    progress: bool = True
    init_from: str | None = None  # a fresh run starts from these weights (fresh optimizer): e.g. to
    # adapt a trained world model to a retrained tokenizer's latents instead of starting from scratch

    def __post_init__(self) -> None:
        if self.window < 1 or self.window % self.model.chunk_frames:
            raise ValueError(
                f"window {self.window} must be a positive multiple of chunk_frames {self.model.chunk_frames}"
            )
        if self.objective not in ("teacher_forcing", "diffusion_forcing"):
            raise ValueError(
                f"objective must be 'teacher_forcing' or 'diffusion_forcing', got {self.objective!r}"
            )
        c = self.model
        if c.cond_channels not in (0, c.latent_channels + 2):
            raise ValueError(
                f"model.cond_channels must be 0 (no memory) or latent_channels + 2 = {c.latent_channels + 2} "
                f"(warped latent, depth, mask), got {c.cond_channels}"
            )
        if c.cond_channels and self.objective != "teacher_forcing":
            raise ValueError("memory conditions (cond_channels > 0) need objective='teacher_forcing'")
        if self.window <= c.chunk_frames and self.objective == "teacher_forcing":
            raise ValueError("teacher forcing needs a window longer than one chunk")
        if not 0 <= self.history_noise <= 1 or not 0 <= self.p_history_noise <= 1:
            raise ValueError("history_noise and p_history_noise must lie in [0, 1]")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("steps must be >= 0, batch_size >= 1 and lr > 0")


def load_world_config(path: str | os.PathLike) -> WorldTrainConfig:
    """Read a :class:`WorldTrainConfig` from JSON."""
    return config_from_json(WorldTrainConfig, path)


@torch.no_grad()
def encode_batch(tokenizer: Tokenizer, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents ``(B, T, C, h, w)`` of a dataset batch and the depth scale ``(B,)`` of each window's first frame."""
    rgb, depth = batch["rgb"], batch["depth"]
    b, t = rgb.shape[:2]
    _, scale = tokenizer.to_input(rgb[:, 0], depth[:, 0])
    z, _ = tokenizer.encode(rgb.flatten(0, 1), depth.flatten(0, 1), scale.repeat_interleave(t))
    return z.view(b, t, *z.shape[1:]), scale


def batch_conditions(batch: dict, image_size: tuple[int, int], latent_size: tuple[int, int]) -> Conditions:
    """Plücker maps ``(B, T, 6, h, w)`` of the window's poses and action ids ``(B, T)`` of its keys."""
    plucker = latent_plucker(batch["K"], batch["poses"], image_size, latent_size)
    actions = torch.tensor(
        [[action_id(a) for a in seq] for seq in _transpose(batch["actions"])], dtype=torch.long
    )
    return Conditions(action=actions, plucker=plucker)


def _transpose(actions) -> list[list[str]]:
    """The default collate turns ``B`` lists of ``T`` strings into ``T`` tuples of ``B``: undo that."""
    if actions and isinstance(actions[0], tuple | list) and not isinstance(actions[0], str):
        return [list(x) for x in zip(*actions, strict=True)]
    return [list(actions)]


def world_loss(
    model: CausalDiT, tokenizer: Tokenizer, batch: dict, cfg: WorldTrainConfig, gen: torch.Generator
):
    """Flow-matching loss of one batch (scalar tensor)."""
    x0, scale = encode_batch(tokenizer, batch)
    b, t = x0.shape[:2]
    cond = batch_conditions(batch, tuple(batch["rgb"].shape[-2:]), tuple(x0.shape[-2:]))
    cond = drop_conditions(cond, b, cfg.drop_action, cfg.drop_camera, generator=gen)
    if cfg.objective == "diffusion_forcing":
        times = sample_times(b, t, cfg.flow, gen)
        noise = torch.randn(x0.shape, generator=gen)
        pred = model(add_noise(x0, noise, times), times, cond)
        return flow_loss(pred.float(), x0, noise)
    F_ = model.config.chunk_frames
    targets = list(range(F_, t))
    cond_noisy = cond.frames(F_, t)
    if model.config.cond_channels:
        memory = window_memory_conditions(
            x0,
            batch["depth"],
            batch["K"],
            batch["poses"],
            scale,
            targets,
            F_,
            cfg.degrade,
            tokenizer.cfg.depth_lambda,
            gen,
        )
        keep = (torch.rand(b, generator=gen) >= cfg.drop_memory).to(memory.dtype)
        cond_noisy = dataclasses.replace(cond_noisy, memory=memory * keep[:, None, None, None, None])
    t_noisy = sample_times(b, len(targets), cfg.flow, gen)
    noise = torch.randn(x0[:, F_:].shape, generator=gen)
    noisy_history = torch.rand(b, 1, generator=gen) < cfg.p_history_noise
    t_clean = torch.rand(b, t, generator=gen) * cfg.history_noise * noisy_history
    clean = add_noise(x0, torch.randn(x0.shape, generator=gen), t_clean)
    pred = model.teacher_forced(
        clean,
        add_noise(x0[:, F_:], noise, t_noisy),
        targets,
        t_noisy,
        cond.without("memory"),
        cond_noisy,
        t_clean,
    )
    return flow_loss(pred.float(), x0[:, F_:], noise)


def _loader(root: str | tuple[str, ...], cfg: WorldTrainConfig, seed: int) -> torch.utils.data.DataLoader:
    ds = WindowDataset(root, window=cfg.window, stride=cfg.frame_stride, step=max(1, cfg.window // 2))
    if len(ds) == 0:
        raise ValueError(f"no windows of {cfg.window} frames in {root}")
    sampler = torch.utils.data.RandomSampler(
        ds, replacement=True, num_samples=10**9, generator=torch.Generator().manual_seed(seed)
    )
    return torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=0)


@torch.no_grad()
def evaluate_world(
    model: CausalDiT, tokenizer: Tokenizer, loader, cfg: WorldTrainConfig, batches: int
) -> dict:
    """Mean validation flow loss over ``batches`` batches (fixed noise seed)."""
    model.eval()
    gen = torch.Generator().manual_seed(1234)
    losses = [
        float(world_loss(model, tokenizer, batch, cfg, gen))
        for _, batch in zip(range(batches), loader, strict=False)
    ]
    model.train()
    return {"val_loss": float(np.mean(losses))}


def grown_state(model: CausalDiT, config: dict, state: dict, cfg: WorldTrainConfig) -> dict:
    """The state to start ``model`` from, given an ``init_from`` checkpoint's config and weights: the
    same architecture, or one that only adds a memory skip head (``memory_skip`` 0 → > 0), which
    keeps its fresh initialisation. Any other difference is refused, naming the fields."""
    want = config_to_dict(cfg.model)
    differ = sorted(
        k for k in set(want) | set(config) if want.get(k) != config.get(k, 0 if k == "memory_skip" else None)
    )
    if not differ:
        return state
    if differ == ["memory_skip"] and not config.get("memory_skip"):
        fresh = {k: v for k, v in model.state_dict().items() if k.startswith("memory_skip.")}
        return {**state, **fresh}
    raise ValueError(
        f"init_from {cfg.init_from} has a different model config than {cfg.model} (fields: {', '.join(differ)})"
    )


def train_world(cfg: WorldTrainConfig) -> Path:
    """Train (or resume) the world model; returns the path of the last checkpoint."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg.device)
    tokenizer = load_tokenizer(cfg.tokenizer, device)
    for p in tokenizer.parameters():
        p.requires_grad_(False)
    if tokenizer.cfg.latent_channels != cfg.model.latent_channels:
        raise ValueError(
            f"tokenizer has {tokenizer.cfg.latent_channels} latent channels, the DiT expects {cfg.model.latent_channels}"
        )
    model = CausalDiT(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    out = Path(cfg.checkpoint_dir)
    last = out / "world_last.safetensors"
    step = 0
    if cfg.resume and last.is_file():
        ckpt = load_checkpoint(last, KIND)
        if ckpt.config != config_to_dict(cfg.model):
            raise ValueError(f"{last} was trained with another model config; use a new checkpoint_dir")
        load_weights(model, ckpt.model_state, str(last))
        if ckpt.optimizer_state is not None:
            opt.load_state_dict(ckpt.optimizer_state)
        step = ckpt.step
    elif cfg.init_from is not None:
        if not Path(cfg.init_from).is_file():
            raise ValueError(
                f"init_from {cfg.init_from} does not exist: train the world model it starts from first"
            )
        init = load_checkpoint(cfg.init_from, KIND)
        load_weights(model, grown_state(model, init.config, init.model_state, cfg), str(cfg.init_from))
    train = iter(_loader(cfg.data_dir, cfg, cfg.seed + step))
    val = _loader(cfg.eval_dir, cfg, 999) if cfg.eval_dir else None
    gen = torch.Generator().manual_seed(cfg.seed + step)
    start = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=step, desc="world", unit="step", disable=not cfg.progress)
    history = []
    while step < cfg.steps:
        for group in opt.param_groups:
            group["lr"] = warmup_cosine(step, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            loss = world_loss(model, tokenizer, next(train), cfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        loss = loss.detach()
        bar.update()
        bar.set_postfix(loss=f"{float(loss):.4f}")
        timed_out = cfg.max_minutes is not None and time.perf_counter() - start > 60 * cfg.max_minutes
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or timed_out:
            metrics = (
                evaluate_world(model, tokenizer, val, cfg, cfg.eval_batches)
                if val and (step % cfg.eval_every == 0 or step == cfg.steps or timed_out)
                else {}
            )
            history.append({"step": step, "loss": float(loss), **metrics})
            if metrics:
                tqdm.write(f"step {step}: train loss {float(loss):.4f}, val loss {metrics['val_loss']:.4f}")
            save_checkpoint(
                last,
                model,
                cfg.model,
                KIND,
                step,
                opt,
                extra={"train_config": config_to_dict(cfg), "history": history[-20:]},
            )
        if timed_out:
            break
    bar.close()
    if not last.is_file():
        save_checkpoint(last, model, cfg.model, KIND, step, opt, extra={"train_config": config_to_dict(cfg)})
    return last
