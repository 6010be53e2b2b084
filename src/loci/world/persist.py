"""Saving and loading sessions: one safetensors file (tensors) with JSON metadata. Never pickle.

The file holds the memory, the pose history, the controller state and the current frame; the
metadata holds the world config, the actions and where the session started. Engine sessions are
restored by replaying their actions on the engine from the same level and seed (engines are
deterministic), and the replayed pose is checked against the saved one. Learned sessions save
their backend's state too (KV cache, latent memory, noise generator), so a loaded session continues
exactly as the saved one would have, and the SHA-256 of the weights that made them: their cache and
latent memory mean nothing to other weights, so a session meets other weights with a clear error
instead of continuing as noise. From version 2 the metadata also holds the SHA-256 of all tensor
data (``tensors_sha256``), checked on load; NaN or inf anywhere in a saved state is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from loci.engines import Engine, make_engine
from loci.io import atomic_path, check_finite, config_from_dict, config_to_dict, tensors_digest

from .frame import Frame
from .session import Session
from .world import World, WorldConfig, with_checkpoints

FORMAT = "loci.session"
VERSION = "2"
READS = ("1", "2")  # version 1 (no digest) still loads
# Learned sessions saved before the weights' digests were recorded were made by the first shipped pair
# (in git up to commit 4cfa33a, src/loci/models/weights/{world,tokenizer}_doom.safetensors).
FIRST_SHIPPED_WEIGHTS = {
    "world": "e11e7ad68e9377c832032d2ca71014910bd2432cfd78dab3b4f75086711064ab",
    "tokenizer": "a16efef3f2284583787784726529aa3e1918453fdcc7e09c1a702a7befee1d1b",
}


def save_session(session: Session, path: str | os.PathLike) -> Path:
    """Write ``session`` to ``path`` (``.safetensors``) atomically; returns the path."""
    f = session.frame
    tensors = {f"memory.{k}": v for k, v in session.memory.state_dict().items()}
    tensors |= {
        "poses": torch.from_numpy(np.stack(session.poses).astype(np.float32)),
        "controller": session.controller.state(),
        "frame.rgb": torch.from_numpy(np.ascontiguousarray(f.rgb)),
        "frame.depth": torch.from_numpy(np.ascontiguousarray(f.depth)),
        "frame.K": torch.from_numpy(np.ascontiguousarray(f.K, dtype=np.float32)),
        "frame.pose": torch.from_numpy(np.ascontiguousarray(f.pose, dtype=np.float32)),
        "frame.coverage": torch.from_numpy(f.coverage.astype(np.uint8)),
    }
    tensors |= {f"backend.{k}": v for k, v in session.backend.state_dict().items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "world": json.dumps(config_to_dict(session.config)),
        "source": json.dumps(session.source),
        "actions": json.dumps(session.actions),
        "frame": json.dumps({"index": f.index, "action": f.action}),
    }
    if session.weights is not None:
        meta["weights"] = json.dumps(session.weights)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    check_finite(tensors, "the session to save")
    meta["tensors_sha256"] = tensors_digest(tensors)
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"no saved session at {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a saved loci session")
    if meta.get("version") not in READS:
        raise ValueError(
            f"{path}: session version {meta.get('version')!r} is not supported (this loci reads {', '.join(READS)})"
        )
    if meta["version"] != "1":
        if "tensors_sha256" not in meta:
            raise ValueError(f"{path}: version {meta['version']} session without tensors_sha256")
        if tensors_digest(tensors) != meta["tensors_sha256"]:
            raise ValueError(
                f"{path} is corrupt: its tensor data does not match the digest recorded when it was saved"
            )
    check_finite(tensors, str(path))
    return tensors, meta


def load_session(
    path: str | os.PathLike,
    engine: Engine | None = None,
    world_checkpoint: str | None = None,
    tokenizer_checkpoint: str | None = None,
) -> Session:
    """Rebuild a session saved by :func:`save_session`; raises ``ValueError`` on a corrupt file, and
    on a learned session whose weights are not the ones at hand (``world_checkpoint`` /
    ``tokenizer_checkpoint`` replace the saved config's paths, to point at the weights that made it).
    """
    path = Path(path)
    tensors, meta = _read(path)
    try:
        cfg = config_from_dict(WorldConfig, json.loads(meta["world"]), "world")
        source = json.loads(meta["source"])
        actions = json.loads(meta["actions"])
        frame_meta = json.loads(meta["frame"])
        saved_weights = json.loads(meta["weights"]) if "weights" in meta else FIRST_SHIPPED_WEIGHTS
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: malformed session metadata ({err})") from None
    cfg = with_checkpoints(cfg, world_checkpoint, tokenizer_checkpoint)
    need = ["poses", "controller", "frame.rgb", "frame.depth", "frame.K", "frame.pose", "frame.coverage"]
    missing = [k for k in need if k not in tensors]
    if missing:
        raise ValueError(f"{path}: session lacks {missing}")
    world = World(cfg)
    if world.spec.learned:
        _check_weights(path, saved_weights, world.weights_id())
    if world.spec.resume == "replay":  # a deterministic engine: replay the actions from the start
        if source.get("kind") != "engine":
            raise ValueError(f"{path}: a {cfg.backend} session must start from an engine")
        engine = engine or make_engine(source["engine"])
        session = world.start_from_engine(
            engine, source["level"], source["seed"], tuple(source.get("prelude", ()))
        )
        for action in actions:
            session.step(action)
        if not np.allclose(session.frame.pose, tensors["frame.pose"].numpy(), atol=1e-4):
            raise ValueError(
                f"{path}: replaying the engine did not reproduce the saved pose (engine changed?)"
            )
        return session
    rgb = tensors["frame.rgb"].numpy()
    first = Frame(
        rgb,
        tensors["frame.depth"].numpy(),
        tensors["frame.pose"].numpy(),
        tensors["frame.K"].numpy(),
        tensors["frame.coverage"].numpy().astype(bool),
        int(frame_meta["index"]),
        frame_meta["action"],
        {},
    )
    session = world.resume(first, source)
    session.memory.load_state_dict(
        {k.removeprefix("memory."): v for k, v in tensors.items() if k.startswith("memory.")}
    )
    session.controller.load_state(tensors["controller"])
    try:
        session.backend.load_state_dict(
            {k.removeprefix("backend."): v for k, v in tensors.items() if k.startswith("backend.")}
        )
    except (ValueError, RuntimeError, KeyError) as err:
        raise ValueError(f"{path}: the saved {cfg.backend} state does not fit this world ({err})") from None
    poses = tensors["poses"].numpy()
    if len(poses) != len(actions) + 1:
        raise ValueError(f"{path}: {len(poses)} poses for {len(actions)} actions")
    session.poses = list(poses)
    session.actions = list(actions)
    session.frame = first
    return session


def _check_weights(path: Path, saved: dict, current: dict[str, str] | None) -> None:
    if not isinstance(saved, dict) or set(saved) != {"world", "tokenizer"}:
        raise ValueError(f"{path}: malformed session metadata (weights {saved!r})")
    if current == saved:
        return
    differ = [k for k in ("world", "tokenizer") if current is None or current.get(k) != saved[k]]
    first = " (the first shipped pair, in git up to commit 4cfa33a)" if saved == FIRST_SHIPPED_WEIGHTS else ""
    raise ValueError(
        f"{path} was made by other {' and '.join(differ)} weights{first}: sha256 "
        + ", ".join(f"{k} {saved[k][:12]}" for k in differ)
        + "; its KV cache and latent memory mean nothing to the weights at hand. Load it with "
        "world_checkpoint= / tokenizer_checkpoint= pointing at the weights that made it."
    )
