"""A camera trajectory and its JSON file format (validated on load, written atomically).

File layout (JSON object)::

    {"format": "loci.trajectory", "version": 1, "name": str,
     "poses": T × 4 × 4 numbers, "K": 3 × 3 numbers or null, "actions": T-1 strings or null}

float32 values are written as the shortest decimal that reads back to the same double, so a
save/load round trip is exact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from loci.geometry import check_intrinsics, check_pose, relative_pose

FORMAT = "loci.trajectory"
VERSION = 1


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Camera-to-world ``poses`` ``(T, 4, 4)`` float32 in the global frame, ``T >= 1``.

    ``K`` ``(3, 3)``: optional intrinsics shared by every pose. ``actions``: optional ``T - 1`` labels;
    ``actions[i]`` takes pose ``i`` to pose ``i + 1`` (key combos like ``"WQ"`` or text commands).
    """

    poses: torch.Tensor
    K: torch.Tensor | None = None
    actions: list[str] | None = None
    name: str = "trajectory"

    def __post_init__(self) -> None:
        poses = check_pose(self.poses, "poses")
        if poses.dim() != 3 or poses.shape[0] < 1:
            raise ValueError(f"poses must have shape (T, 4, 4) with T >= 1, got {tuple(poses.shape)}")
        object.__setattr__(self, "poses", poses.detach().to("cpu", torch.float32).contiguous())
        if self.K is not None:
            K = check_intrinsics(self.K)
            if K.shape != (3, 3):
                raise ValueError(f"K must have shape (3, 3), got {tuple(K.shape)}")
            object.__setattr__(self, "K", K.detach().to("cpu", torch.float32).contiguous())
        if self.actions is not None:
            actions = self.actions
            if not isinstance(actions, list | tuple) or not all(isinstance(a, str) for a in actions):
                raise ValueError("actions must be a list of strings")
            if len(self.actions) != len(self) - 1:
                raise ValueError(f"actions must hold T - 1 = {len(self) - 1} labels, got {len(self.actions)}")
            object.__setattr__(self, "actions", list(self.actions))
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a str, got {type(self.name).__name__}")

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    def deltas(self) -> torch.Tensor:
        """Camera-frame steps ``(T-1, 4, 4)``: ``poses[i + 1] = poses[i] @ deltas()[i]``."""
        p = self.poses.to(torch.float64)
        return relative_pose(p[:-1], p[1:]).to(torch.float32)

    # --- JSON ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (see the module docstring for the layout)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "poses": self.poses.tolist(),
            "K": None if self.K is None else self.K.tolist(),
            "actions": self.actions,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Trajectory:
        """Build and validate from :meth:`to_dict`'s layout; ``ValueError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"a trajectory must be a JSON object, got {type(data).__name__}")
        for field in ("format", "version", "name", "poses"):
            if field not in data:
                raise ValueError(f"missing field {field!r}")
        if data["format"] != FORMAT or data["version"] != VERSION:
            raise ValueError(f"unsupported format {data['format']!r} version {data['version']!r}")
        return cls(
            poses=_tensor(data["poses"], "poses"),
            K=None if data.get("K") is None else _tensor(data["K"], "K"),
            actions=data.get("actions"),
            name=data["name"],
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically (temp file in the same folder, then ``os.replace``); returns the path."""
        path = Path(path)
        text = json.dumps(self.to_dict(), allow_nan=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read and validate a file written by :meth:`save`; ``ValueError`` for a corrupt or malformed one."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
            raise ValueError(f"invalid trajectory file {str(path)!r}: {e}") from e


def _tensor(value: Any, name: str) -> torch.Tensor:
    """Nested lists of numbers -> float64 tensor; ``ValueError`` if ragged or not numbers."""
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a nested list of numbers, got {type(value).__name__}")
    try:
        return torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name} must be a nested list of numbers of a regular shape ({e})") from e
