"""Distilling the world model into a few-step causal student: Self-Forcing rollouts + DMD.

One iteration: a batch of training windows (only their first frame, cameras and keys are used:
the student makes every other frame) → a Self-Forcing rollout of the student
(:func:`loci.training.self_forcing.rollout`: its own frames, its own memory, its KV cache) → the
critic (the *fake* score, initialised from the teacher) takes a flow-matching step on the rollout's
frames; every ``critic_updates``-th iteration the student also takes a DMD step
(:func:`loci.training.dmd.dmd_step`): the frozen teacher's denoising of its noised frames against
the critic's, both seeing the rollout's own history and memory (DMD2, as Self-Forcing trains).
The student starts from the teacher's weights (or ``student_init``), so no regression data is needed.

Checkpoints hold the student, the critic and their optimiser in one file, written atomically;
the one before is kept (``*.prev.safetensors``) and a resume from a corrupt newest falls back to it.
Each checkpoint also exports the student alone as a ``world`` checkpoint (``student.safetensors``),
which ``loci play --world student --world-checkpoint …`` and the benchmark load.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from loci.data.dataset import WindowDataset
from loci.io import config_from_json, config_to_dict
from loci.models import CausalDiT, Conditions, Tokenizer, few_step_times, guided_velocity
from loci.models.checkpoint import (
    load_newest_good,
    load_weights,
    previous_path,
    save_checkpoint,
    save_rotating,
)
from loci.models.loading import WORLD_KIND, load_tokenizer, load_world_model

from .dmd import DMDConfig, critic_loss, dmd_step
from .schedule import warmup_cosine
from .self_forcing import SelfRollout, rollout, rollout_velocity
from .tokenizer import pick_device
from .world import batch_conditions

KIND = "student_train"


@dataclass(frozen=True)
class StudentTrainConfig:
    """Everything one distillation run depends on (JSON: ``configs/student_*.json``).

    teacher: the world checkpoint distilled (frozen; also the critic's start). student_init: the
    student's start (default: the teacher). window: frames per rollout (the true start + window - 1
    generated); kv_window: history frames attended. denoising_steps / shift: the student's few-step
    schedule (:func:`loci.models.few_step_times`). steps: student updates; critic_updates: critic
    updates per student update (DMD2's two time-scale rule). teacher_guidance: per-condition CFG
    of the teacher's score, ``(condition, scale)`` pairs (empty: none)."""

    data_dir: str | tuple[str, ...]
    tokenizer: str
    teacher: str
    checkpoint_dir: str
    student_init: str | None = None
    eval_dir: str | tuple[str, ...] | None = None
    window: int = 8
    kv_window: int = 8
    frame_stride: int = 1
    denoising_steps: int = 4
    shift: float = 3.0
    steps: int = 200
    critic_updates: int = 5
    batch_size: int = 2
    lr: float = 2e-5
    critic_lr: float = 4e-5
    warmup_steps: int = 10
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    dmd: DMDConfig = field(default_factory=DMDConfig)
    teacher_guidance: tuple[tuple[str, float], ...] = ()
    eval_every: int = 50
    eval_batches: int = 2
    checkpoint_every: int = 25
    seed: int = 0
    device: str = "auto"
    num_threads: int = 2
    max_minutes: float | None = None
    resume: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"window must be >= 2 (the start and one generated frame), got {self.window}")
        if self.kv_window < 1 or self.denoising_steps < 1 or self.critic_updates < 1:
            raise ValueError("kv_window, denoising_steps and critic_updates must be >= 1")
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or self.critic_lr <= 0:
            raise ValueError("steps must be >= 0, batch_size >= 1 and both learning rates > 0")
        if self.window - 1 > self.kv_window:
            # the teacher and critic see every earlier frame of the rollout; the student as much
            raise ValueError(
                f"window {self.window} - 1 must not exceed kv_window {self.kv_window}: the scores "
                "see the whole rollout as history, the student must too"
            )


def load_student_config(path: str | os.PathLike) -> StudentTrainConfig:
    """Read a :class:`StudentTrainConfig` from JSON."""
    return config_from_json(StudentTrainConfig, path)


def check_pair(teacher: CausalDiT, student: CausalDiT, tokenizer: Tokenizer, where: dict[str, str]) -> None:
    """Refuse a teacher / student / tokenizer trio whose latents or conditions differ (naming the files)."""
    t, s = teacher.config, student.config
    if tokenizer.cfg.latent_channels != t.latent_channels:
        raise ValueError(
            f"teacher {where['teacher']} has {t.latent_channels} latent channels, tokenizer "
            f"{where['tokenizer']} makes {tokenizer.cfg.latent_channels}"
        )
    for name in ("latent_channels", "cond_channels", "num_actions", "chunk_frames"):
        if getattr(t, name) != getattr(s, name):
            raise ValueError(
                f"teacher {where['teacher']} and student {where['student']} differ in {name}: "
                f"{getattr(t, name)} vs {getattr(s, name)}"
            )
    if s.chunk_frames != 1:
        raise ValueError(
            f"the student generates one frame per chunk, {where['student']} has {s.chunk_frames}"
        )


@dataclass
class Distiller:
    """The student, the critic, the frozen teacher and tokenizer, and the optimiser of the first two."""

    cfg: StudentTrainConfig
    student: CausalDiT
    critic: CausalDiT
    teacher: CausalDiT
    tokenizer: Tokenizer
    optimizer: torch.optim.Optimizer
    times: torch.Tensor

    def start_of(self, batch: dict):
        """The window's first-frame latents ``(B, C, h, w)``, depth scale ``(B,)`` and conditions."""
        with torch.no_grad():
            z, scale = self.tokenizer.encode(batch["rgb"][:, 0], batch["depth"][:, 0])
        cond = batch_conditions(batch, tuple(batch["rgb"].shape[-2:]), tuple(z.shape[-2:]))
        return z, scale, cond

    def roll(
        self, batch: dict, gen: torch.Generator, grad: bool, exits=None
    ) -> tuple[SelfRollout, Conditions]:
        z, scale, cond = self.start_of(batch)
        with torch.set_grad_enabled(grad):
            out = rollout(
                self.student,
                self.tokenizer,
                z,
                batch["depth"][:, 0],
                batch["K"],
                batch["poses"],
                cond,
                scale,
                self.times,
                self.cfg.kv_window,
                gen,
                exits,
            )
        return out, cond

    def real(self, roll: SelfRollout, cond: Conditions):
        def velocity(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return guided_velocity(
                lambda c: rollout_velocity(self.teacher, roll, x_t, t, c), cond, self.cfg.teacher_guidance
            )

        return velocity

    def fake(self, roll: SelfRollout, cond: Conditions):
        return lambda x_t, t: rollout_velocity(self.critic, roll, x_t, t, cond)

    def iteration(self, batch: dict, gen: torch.Generator, update_student: bool) -> dict:
        """One critic update (and a student update before it when ``update_student``); losses."""
        cfg, opt = self.cfg, self.optimizer
        roll, cond = self.roll(batch, gen, grad=update_student)
        stats = {}
        if update_student:
            step = dmd_step(roll.latents[:, 1:], self.real(roll, cond), self.fake(roll, cond), cfg.dmd, gen)
            opt.zero_grad(set_to_none=True)
            step.loss.backward()
            torch.nn.utils.clip_grad_norm_(self.student.parameters(), cfg.grad_clip)
            opt.step()
            stats |= {"dmd_loss": float(step.loss.detach()), "gap": step.gap}
        loss = critic_loss(self.fake(roll, cond), roll.latents[:, 1:], cfg.dmd, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
        opt.step()
        return stats | {"critic_loss": float(loss.detach())}

    @torch.no_grad()
    def evaluate(self, loader, batches: int) -> dict:
        """On held-back windows, with fixed noise and every frame at the last step (as at play time):
        the mean squared error of the rollout's latents against the true frames' (lower is better)."""
        gen = torch.Generator().manual_seed(1234)
        errs = []
        exits = [len(self.times) - 1] * (self.cfg.window - 1)
        for _, batch in zip(range(batches), loader, strict=False):
            roll, _ = self.roll(batch, gen, grad=False, exits=exits)
            b, t = batch["rgb"].shape[:2]
            _, scale = self.tokenizer.to_input(batch["rgb"][:, 0], batch["depth"][:, 0])
            true, _ = self.tokenizer.encode(
                batch["rgb"].flatten(0, 1), batch["depth"].flatten(0, 1), scale.repeat_interleave(t)
            )
            true = true.view(b, t, *true.shape[1:])
            errs.append(float(((roll.latents[:, 1:] - true[:, 1:]) ** 2).mean()))
        return {"val_rollout_mse": float(np.mean(errs))}

    def state(self, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Student and critic weights and the noise generator's state (an exact resume)."""
        return (
            {f"student.{k}": v for k, v in self.student.state_dict().items()}
            | {f"critic.{k}": v for k, v in self.critic.state_dict().items()}
            | {"rng.noise": gen.get_state()}
        )


class ResumableSampler(torch.utils.data.Sampler):
    """Dataset indices drawn with replacement from a seeded stream, starting at draw ``skip``: a run
    resumed at iteration ``i`` sees the batches an uninterrupted run would have."""

    def __init__(self, size: int, seed: int, skip: int = 0, block: int = 1024):
        self.size, self.seed, self.skip, self.block = size, seed, skip, block

    def __len__(self) -> int:
        return 10**9  # endless, as the world trainer's sampler

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)
        n = 0
        while True:
            draws = torch.randint(self.size, (self.block,), generator=g)
            if n + self.block > self.skip:
                yield from draws.tolist()[max(0, self.skip - n) :]
            n += self.block


def _student_loader(root, cfg: StudentTrainConfig, seed: int, skip: int = 0):
    ds = WindowDataset(root, window=cfg.window, stride=cfg.frame_stride, step=max(1, cfg.window // 2))
    if len(ds) == 0:
        raise ValueError(f"no windows of {cfg.window} frames in {root}")
    sampler = ResumableSampler(len(ds), seed, skip)
    return torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=0)


def build_distiller(cfg: StudentTrainConfig, device: torch.device) -> Distiller:
    tokenizer = load_tokenizer(cfg.tokenizer, device)
    teacher = load_world_model(cfg.teacher, device)
    student = load_world_model(cfg.student_init or cfg.teacher, device).train()
    check_pair(
        teacher,
        student,
        tokenizer,
        {"teacher": cfg.teacher, "student": cfg.student_init or cfg.teacher, "tokenizer": cfg.tokenizer},
    )
    if cfg.kv_window > student.config.max_history:
        raise ValueError(
            f"kv_window {cfg.kv_window} exceeds the student's max_history {student.config.max_history}"
        )
    for p in (*tokenizer.parameters(), *teacher.parameters()):
        p.requires_grad_(False)
    critic = copy.deepcopy(teacher).train()
    for p in critic.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(
        [
            {"params": list(student.parameters()), "lr": cfg.lr},
            {"params": list(critic.parameters()), "lr": cfg.critic_lr},
        ],
        weight_decay=cfg.weight_decay,
    )
    times = few_step_times(cfg.denoising_steps, cfg.shift)
    return Distiller(cfg, student, critic, teacher, tokenizer, opt, times)


def _resume(d: Distiller, last: Path, gen: torch.Generator) -> int:
    ckpt, where, skipped = load_newest_good(last, KIND)
    if skipped:
        tqdm.write(f"resuming from {where}: the newest checkpoint was skipped ({skipped})")
    if ckpt.config != config_to_dict(d.student.config):
        raise ValueError(f"{where} was trained with another student config; use a new checkpoint_dir")
    part = {"student": {}, "critic": {}, "rng": {}}
    for k, v in ckpt.model_state.items():
        head, _, rest = k.partition(".")
        if head not in part:
            raise ValueError(f"{where}: unexpected tensor {k!r} in a distillation checkpoint")
        part[head][rest] = v
    load_weights(d.student, part["student"], f"{where} (student)")
    load_weights(d.critic, part["critic"], f"{where} (critic)")
    if ckpt.optimizer_state is not None:
        d.optimizer.load_state_dict(ckpt.optimizer_state)
    if "noise" in part["rng"]:
        gen.set_state(part["rng"]["noise"])
    return ckpt.step


def train_student(cfg: StudentTrainConfig) -> Path:
    """Distil (or resume distilling) the student; returns the path of the exported student."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg.device)
    d = build_distiller(cfg, device)
    out = Path(cfg.checkpoint_dir)
    last, export = out / "student_train.safetensors", out / "student.safetensors"
    gen = torch.Generator().manual_seed(cfg.seed)
    resumable = last.is_file() or previous_path(last).is_file()
    it = _resume(d, last, gen) if cfg.resume and resumable else 0
    total = cfg.steps * cfg.critic_updates  # iterations: one critic update each
    train = iter(_student_loader(cfg.data_dir, cfg, cfg.seed, skip=it * cfg.batch_size))
    val = _student_loader(cfg.eval_dir, cfg, 999) if cfg.eval_dir else None
    start = time.perf_counter()
    bar = tqdm(
        total=cfg.steps,
        initial=it // cfg.critic_updates,
        desc="student",
        unit="step",
        disable=not cfg.progress,
    )
    history: list[dict] = []
    stats: dict = {}
    while it < total:
        s = it // cfg.critic_updates
        d.optimizer.param_groups[0]["lr"] = warmup_cosine(
            s, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio
        )
        d.optimizer.param_groups[1]["lr"] = warmup_cosine(
            s, cfg.critic_lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio
        )
        update_student = it % cfg.critic_updates == cfg.critic_updates - 1
        stats |= d.iteration(next(train), gen, update_student)
        it += 1
        if not update_student:
            continue
        s += 1
        bar.update()
        bar.set_postfix({k: f"{v:.4f}" for k, v in stats.items()})
        timed_out = cfg.max_minutes is not None and time.perf_counter() - start > 60 * cfg.max_minutes
        if s % cfg.checkpoint_every == 0 or s == cfg.steps or timed_out:
            metrics = (
                d.evaluate(val, cfg.eval_batches)
                if val and (s % cfg.eval_every == 0 or s == cfg.steps or timed_out)
                else {}
            )
            history.append({"step": s, **stats, **metrics})
            if metrics:
                tqdm.write(f"step {s}: " + ", ".join(f"{k} {v:.4f}" for k, v in {**stats, **metrics}.items()))
            _save(d, cfg, last, export, it, history, gen)
        if timed_out:
            break
    bar.close()
    if not export.is_file():
        _save(d, cfg, last, export, it, history, gen)
    return export


def _save(
    d: Distiller,
    cfg: StudentTrainConfig,
    last: Path,
    export: Path,
    it: int,
    history: list,
    gen: torch.Generator,
) -> None:
    extra = {"train_config": config_to_dict(cfg), "history": history[-20:]}
    save_rotating(last, d.state(gen), d.student.config, KIND, it, d.optimizer, extra=extra)
    student_extra = {
        "distilled_from": str(cfg.teacher),
        "student_steps": it // cfg.critic_updates,
        "denoising_steps": cfg.denoising_steps,
        "shift": cfg.shift,
    }
    save_checkpoint(
        export, d.student, d.student.config, WORLD_KIND, it // cfg.critic_updates, extra=student_extra
    )
