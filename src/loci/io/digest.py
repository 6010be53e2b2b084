"""Content fingerprints: of files (which weights made a saved session) and of tensor data (is a
checkpoint or a saved world the one that was written), and the finiteness check of loaded state."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch

MANIFEST = "SHA256SUMS"


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes, as 64 hex digits."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of named tensors: every name, dtype, shape and the raw bytes, in name order.

    Independent of how a file lays them out, so it can be stored in that file's own metadata."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_finite(tensors: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise ``ValueError`` naming the first floating-point tensor holding NaN or inf."""
    for name in sorted(tensors):
        t = tensors[name]
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(f"{where}: tensor {name!r} holds {bad} NaN/inf value(s); refusing to load it")


def manifest_digest(path: str | os.PathLike) -> str | None:
    """The SHA-256 that a ``SHA256SUMS`` file beside ``path`` lists for it (``sha256sum`` layout:
    ``<hex>  <file name>``), or None when there is no such file or line."""
    path = Path(path)
    manifest = path.parent / MANIFEST
    if not manifest.is_file():
        return None
    for line in manifest.read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if name.lstrip("*") == path.name:
            return digest.lower()
    return None


def check_manifest(path: str | os.PathLike) -> None:
    """Raise ``ValueError`` when a ``SHA256SUMS`` beside ``path`` lists it with another digest."""
    listed = manifest_digest(path)
    if listed is not None and listed != (actual := file_digest(path)):
        raise ValueError(
            f"{path} is corrupt: its SHA-256 {actual[:12]}… is not {listed[:12]}…, the one its {MANIFEST} lists"
        )
