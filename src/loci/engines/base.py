"""The engine interface: ``reset(level, seed, start_pose) -> Observation`` and ``step(action)``.

An engine is a real game or simulator that gives the true RGB, depth, camera and action of every
frame. Actions are loci's keys (W/S forward/back, A/D strafe, Q/E turn, R/F look, ``.`` no-op),
one string per step (``"WQ"`` = forward and turn left in the same step); each engine maps them
onto its own controls with the step sizes of its config.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from loci.control import canonical_keys

from .observation import Observation


class EngineUnavailable(RuntimeError):
    """The engine's Python package or system libraries are missing (the message says how to install)."""


class EpisodeEnded(RuntimeError):
    """The engine ended the episode by itself (the player died, or walked through a level exit).

    ``step`` raises it; the observations so far are valid, and the caller must ``reset``.
    """


class Engine(abc.ABC):
    """A ground-truth world. Not thread-safe; one episode at a time; ``close()`` frees it."""

    name: str = "engine"
    cfg: object  # the engine's typed config (a frozen dataclass); episode metadata records it

    @abc.abstractmethod
    def levels(self) -> Sequence[str]:
        """Every level name this engine accepts."""

    @abc.abstractmethod
    def reset(self, level: str, seed: int, start_pose: np.ndarray | None = None) -> Observation:
        """Start an episode on ``level``; ``seed`` picks the start (and layout, where the engine has
        several); ``start_pose`` ``(4, 4)`` in the engine's metric world frame overrides the start."""

    @abc.abstractmethod
    def step(self, action: str) -> Observation:
        """Apply one step of keys and return the new frame."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_level(self, level: str) -> str:
        """Return ``level`` if known, else raise ``ValueError`` listing the valid names."""
        names = list(self.levels())
        if level not in names:
            shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
            raise ValueError(f"unknown {self.name} level {level!r}; valid levels: {shown}")
        return level

    @staticmethod
    def check_action(action: str) -> str:
        """Canonical key string of ``action`` (raises ``ValueError`` naming an unknown key)."""
        if not isinstance(action, str):
            raise ValueError(f"an action is a string of keys, got {type(action).__name__}")
        return canonical_keys(action)
