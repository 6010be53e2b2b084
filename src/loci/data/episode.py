"""The on-disk episode format: one directory per episode, memory-mappable arrays, atomic writes.

::

    <root>/<engine>-<level>-s<seed>-<policy>/
        meta.json     format, version, engine, level, seed, policy, split, frames, size, units, ...
        rgb.npy       (T, H, W, 3) uint8             lossless RGB
        depth.npy     (T, H, W)    float16           z-depth in metres, 0 = unknown
        K.npy         (T, 3, 3)    float32           intrinsics per frame
        poses.npy     (T, 4, 4)    float32           camera-to-world, OpenCV axes, engine world frame (m)
        actions.json  [T strings]                    keys that led to each frame ("" for frame 0)

Arrays are plain ``.npy`` so a reader memory-maps them and reads only the frames it needs: a
dataset never loads an episode, let alone a dataset, into memory. float16 depth keeps a relative
precision of 1e-3 (≈1 cm at 10 m), below every engine's own depth resolution.

An episode is written into a hidden temporary directory (``.tmp-…``) and renamed into place when
complete, so an interrupted run leaves no half-written episode; readers ignore hidden directories.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from loci.engines import Observation

FORMAT = "loci.episode"
VERSION = 1
ARRAYS = {"rgb": np.uint8, "depth": np.float16, "K": np.float32, "poses": np.float32}


@dataclass(frozen=True)
class EpisodeMeta:
    """What an episode is: where it came from and its shape."""

    engine: str
    level: str
    seed: int
    policy: str
    split: str
    frames: int
    size: tuple[int, int]
    engine_config: dict[str, Any] = field(default_factory=dict)
    ended_early: bool = False
    depth_units: str = "m"
    format: str = FORMAT
    version: int = VERSION

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.level}-s{self.seed:06d}-{self.policy}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "meta.json") -> EpisodeMeta:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{source}: not valid JSON ({err})") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError(f"{source}: not a {FORMAT} file")
        if raw.get("version") != VERSION:
            raise ValueError(
                f"{source}: unsupported version {raw.get('version')!r} (this loci reads {VERSION})"
            )
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{source}: unknown fields {sorted(unknown)}")
        try:
            raw["size"] = tuple(raw["size"])
            return cls(**raw)
        except (TypeError, KeyError) as err:
            raise ValueError(f"{source}: malformed ({err})") from None


class EpisodeWriter:
    """Collects ``meta.frames`` observations, then writes the episode atomically on ``close()``.

    Use as a context manager: on an exception nothing is left behind.
    """

    def __init__(self, root: str | os.PathLike, meta: EpisodeMeta):
        self.root = Path(root)
        self.meta = meta
        self.final = self.root / meta.name
        h, w = meta.size
        t = meta.frames
        self._arrays = {
            "rgb": np.empty((t, h, w, 3), np.uint8),
            "depth": np.empty((t, h, w), np.float16),
            "K": np.empty((t, 3, 3), np.float32),
            "poses": np.empty((t, 4, 4), np.float32),
        }
        self._actions: list[str] = []

    def append(self, obs: Observation) -> None:
        i = len(self._actions)
        if i >= self.meta.frames:
            raise ValueError(f"episode {self.meta.name} already has its {self.meta.frames} frames")
        if obs.size != tuple(self.meta.size):
            raise ValueError(f"observation size {obs.size} != episode size {tuple(self.meta.size)}")
        a = self._arrays
        a["rgb"][i] = obs.rgb
        a["depth"][i] = obs.depth
        a["K"][i] = obs.K
        a["poses"][i] = obs.pose
        self._actions.append(obs.action)

    def close(self, ended_early: bool = False) -> Path:
        """Write everything to a temporary directory and rename it into place; returns the path.

        ``ended_early``: the engine ended the episode before ``meta.frames`` frames; the frames so
        far (at least 2) are written and the metadata records the true length.
        """
        n = len(self._actions)
        if ended_early and 2 <= n < self.meta.frames:
            self.meta = replace(self.meta, frames=n, ended_early=True)
            self._arrays = {k: v[:n] for k, v in self._arrays.items()}
        if n != self.meta.frames:
            raise ValueError(f"episode {self.meta.name} has {n} of {self.meta.frames} frames")
        if self.final.exists():
            raise FileExistsError(f"episode {self.final} already exists")
        tmp = self.root / f".tmp-{self.meta.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            for key, arr in self._arrays.items():
                np.save(tmp / f"{key}.npy", arr)
            (tmp / "actions.json").write_text(json.dumps(self._actions) + "\n")
            (tmp / "meta.json").write_text(self.meta.to_json())
            os.rename(tmp, self.final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.final

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, et: type | None, *rest: object) -> None:
        if et is None:
            self.close()


class Episode:
    """A read-only, memory-mapped episode. Arrays load lazily; slicing reads only those frames."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{self.path} is not an episode (no meta.json)")
        self.meta = EpisodeMeta.from_json(meta_file.read_text(), str(meta_file))
        self._cache: dict = {}

    def __len__(self) -> int:
        return self.meta.frames

    def array(self, key: str) -> np.ndarray:
        """The memory-mapped array ``key`` (``rgb``, ``depth``, ``K`` or ``poses``), shape-checked."""
        if key not in ARRAYS:
            raise KeyError(f"unknown array {key!r}; episodes hold {sorted(ARRAYS)}")
        if key not in self._cache:
            file = self.path / f"{key}.npy"
            try:
                arr = np.load(file, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise ValueError(f"{file}: cannot read ({err})") from None
            h, w = self.meta.size
            t = self.meta.frames
            want = {"rgb": (t, h, w, 3), "depth": (t, h, w), "K": (t, 3, 3), "poses": (t, 4, 4)}[key]
            if arr.shape != want or arr.dtype != ARRAYS[key]:
                raise ValueError(
                    f"{file}: expected {want} {np.dtype(ARRAYS[key])}, got {arr.shape} {arr.dtype}"
                )
            self._cache[key] = arr
        return self._cache[key]

    @property
    def rgb(self) -> np.ndarray:
        return self.array("rgb")

    @property
    def depth(self) -> np.ndarray:
        return self.array("depth")

    @property
    def K(self) -> np.ndarray:
        return self.array("K")

    @property
    def poses(self) -> np.ndarray:
        return self.array("poses")

    @property
    def actions(self) -> list[str]:
        if "actions" not in self._cache:
            self._cache["actions"] = self._read_actions()
        return self._cache["actions"]

    def _read_actions(self) -> list[str]:
        file = self.path / "actions.json"
        try:
            actions = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{file}: cannot read ({err})") from None
        if not isinstance(actions, list) or len(actions) != self.meta.frames:
            raise ValueError(f"{file}: expected a list of {self.meta.frames} actions")
        return actions


def list_episodes(root: str | os.PathLike) -> list[Path]:
    """Episode directories under ``root`` (sorted; hidden and temporary directories skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset directory {root} does not exist")
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "meta.json").is_file()
    )
