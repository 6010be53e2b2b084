"""Checkpoints as safetensors: weights (+ optimizer state) as tensors, config and step as JSON metadata.

Layout of one file (never pickle)::

    tensors   model.<name>                   the model's state dict
              optim.<param index>.<key>      optimizer per-parameter state tensors (e.g. Adam moments)
    metadata  format = "loci.checkpoint", version, kind (e.g. "tokenizer"), step,
              config (model config JSON), optim_groups (param_groups JSON), extra (JSON),
              tensors_sha256 (:func:`loci.io.tensors_digest` of all tensors; version 2 on)

Writes are atomic (a reader sees the old file or the new one). Loading refuses, with ``ValueError``
naming the file and what failed: an unknown version; tensor data whose digest is not the recorded
one (a bit flip, a truncated or spliced file); a file that a ``SHA256SUMS`` manifest beside it lists
with another digest (the shipped weights, version 1, are covered that way); NaN or inf in any
tensor. Through :func:`load_weights` it checks that the weights match the model built from the
stored config: any missing, unexpected or differently shaped tensor raises ``ValueError`` naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import nn

from loci.io.atomic import atomic_write_bytes
from loci.io.configs import config_from_dict, config_to_dict
from loci.io.digest import check_finite, check_manifest, tensors_digest

FORMAT = "loci.checkpoint"
VERSION = 2
READS = ("1", "2")  # version 1: no digest in the file (a manifest may hold one)


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns; ``config`` is the model config as a plain dict."""

    kind: str
    config: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    step: int = 0
    optimizer_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | dict[str, torch.Tensor],
    config: Any,
    kind: str,
    step: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a checkpoint atomically; ``config`` is a dataclass or dict; ``dtype`` casts float weights."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    tensors: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        t = t.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[f"model.{name}"] = t.contiguous()
    meta = {
        "format": FORMAT,
        "version": str(VERSION),
        "kind": kind,
        "step": str(int(step)),
        "config": json.dumps(config_to_dict(config), sort_keys=True),
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    if optimizer is not None:
        opt = optimizer.state_dict()
        for index, per_param in opt["state"].items():
            for key, value in per_param.items():
                value = value if isinstance(value, torch.Tensor) else torch.tensor(value)
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
        meta["optim_groups"] = json.dumps(opt["param_groups"])
    meta["tensors_sha256"] = tensors_digest(tensors)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return path


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> Checkpoint:
    """Read a checkpoint; a missing, corrupt or foreign file or a ``kind`` mismatch raises ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types for corrupt headers and truncation
        raise ValueError(f"{path} is not a readable safetensors checkpoint: {err}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a loci checkpoint (metadata format {meta.get('format')!r})")
    if meta.get("version") not in READS:
        raise ValueError(
            f"{path}: checkpoint version {meta.get('version')!r} is not supported (this loci reads {', '.join(READS)})"
        )
    if kind is not None and meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')!r} checkpoint, expected {kind!r}")
    check_integrity(path, tensors, meta)
    try:
        config = json.loads(meta["config"])
        step = int(meta.get("step", "0"))
        extra = json.loads(meta.get("extra", "{}"))
        groups = json.loads(meta["optim_groups"]) if "optim_groups" in meta else None
        for group in groups or []:  # JSON turned tuples (e.g. Adam's betas) into lists
            group.update({k: tuple(v) for k, v in group.items() if isinstance(v, list) and k != "params"})
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path} has malformed checkpoint metadata: {err}") from None
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    optimizer_state = None
    if groups is not None:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, index, key = k.split(".", 2)
                state.setdefault(int(index), {})[key] = v
        optimizer_state = {"state": state, "param_groups": groups}
    return Checkpoint(meta["kind"], config, model_state, step, optimizer_state, extra)


def check_integrity(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """Refuse a checkpoint whose data is not what was written (digests) or not finite."""
    check_manifest(path)
    if meta.get("version") != "1":
        recorded = meta.get("tensors_sha256")
        if recorded is None:
            raise ValueError(f"{path}: version {meta.get('version')} checkpoint without tensors_sha256")
        if tensors_digest(tensors) != recorded:
            raise ValueError(
                f"{path} is corrupt: its tensor data does not match the digest recorded when it was written"
            )
    check_finite(tensors, str(path))


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], where: str = "checkpoint") -> None:
    """Raise ``ValueError`` naming the first missing, unexpected or mis-shaped tensor of ``state``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        raise ValueError(
            f"{where} does not match its config: missing tensor {missing[0]!r} ({len(missing)} in all)"
        )
    if unexpected:
        raise ValueError(
            f"{where} does not match its config: unexpected tensor {unexpected[0]!r} ({len(unexpected)} in all)"
        )
    for name, ref in expected.items():
        if tuple(state[name].shape) != tuple(ref.shape):
            raise ValueError(
                f"{where} does not match its config: tensor {name!r} has shape {tuple(state[name].shape)}, "
                f"the model expects {tuple(ref.shape)}"
            )


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], where: str = "checkpoint") -> nn.Module:
    """Validate ``state`` against ``model`` (:func:`check_state_dict`) and load it (cast to model dtype)."""
    check_state_dict(model, state, where)
    model.load_state_dict(state)
    return model


def export_weights(
    checkpoint: str | os.PathLike, out: str | os.PathLike, kind: str, metrics: dict[str, Any] | None = None
) -> Path:
    """Write the weights-only (no optimizer) checkpoint of a training checkpoint, as shipped in
    ``loci/models/weights``; ``metrics`` (measured figures) go into its metadata."""
    ckpt = load_checkpoint(checkpoint, kind=kind)
    extra = {"step": ckpt.step, **({"metrics": metrics} if metrics else {})}
    return save_checkpoint(out, ckpt.model_state, ckpt.config, kind, ckpt.step, extra=extra)


def load_model(path: str | os.PathLike, kind: str, build, config_cls, device: str | torch.device = "cpu"):
    """Build ``build(config)`` from a ``kind`` checkpoint's config (typed as ``config_cls``) and load its
    validated weights; returns the model in eval mode on ``device``."""
    ckpt = load_checkpoint(path, kind=kind)
    model = build(config_from_dict(config_cls, ckpt.config, f"{path}: config"))
    load_weights(model, ckpt.model_state, str(path))
    return model.to(device).eval()


def previous_path(path: str | os.PathLike) -> Path:
    """Where :func:`save_rotating` keeps the checkpoint before the newest (``x.safetensors`` → ``x.prev.safetensors``)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_rotating(path: str | os.PathLike, *args, **kwargs) -> Path:
    """:func:`save_checkpoint` that first moves the existing checkpoint at ``path`` to
    :func:`previous_path` (an atomic rename), so a resume always has a last good one to fall back to."""
    path = Path(path)
    if path.is_file():
        os.replace(path, previous_path(path))
    return save_checkpoint(path, *args, **kwargs)


def load_newest_good(path: str | os.PathLike, kind: str | None = None) -> tuple[Checkpoint, Path, str | None]:
    """The checkpoint at ``path``, or, when it is unreadable or corrupt, the previous one of
    :func:`save_rotating`. Returns ``(checkpoint, where it came from, why the newest was skipped or
    None)``; raises ``ValueError`` naming both files when neither loads."""
    path = Path(path)
    try:
        return load_checkpoint(path, kind), path, None
    except ValueError as err:
        prev = previous_path(path)
        if not prev.is_file():
            raise
        try:
            return load_checkpoint(prev, kind), prev, str(err)
        except ValueError as err_prev:
            raise ValueError(f"no good checkpoint to resume from: {err}; and {err_prev}") from None
