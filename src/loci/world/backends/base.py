"""The one contract every backend implements, and what the registry knows of each.

A backend turns one step request (the action, the target camera the controls computed, the
memory to read, the last frame) into a :class:`Produced`: the new frame and what of it the point
memory should keep. The session writes the memory and moves the controller; it never asks which
backend it has. What differs between backends — whether they start from an image, whether they
need weights, how a saved session is restored — is declared once, in their :class:`BackendSpec`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from loci.control import KeyStepConfig
from loci.memory import PointMemory

from ..actions import ParsedAction
from ..frame import Frame
from ..view import MemoryWrite

if TYPE_CHECKING:
    from loci.engines import Engine


@dataclass(frozen=True, eq=False)
class StepRequest:
    """One step: ``action`` (keys, text or pose; ``action.value`` holds the keys as pressed);
    ``pose`` ``(4, 4)`` float32 torch: the target camera-to-world pose in the global frame, computed
    once by the controls (collision applied); ``K`` ``(3, 3)`` float32 numpy; ``size`` (H, W);
    ``memory``: the session's point memory (read it; the session writes it); ``last``: the frame
    before this step."""

    action: ParsedAction
    pose: torch.Tensor
    K: np.ndarray
    size: tuple[int, int]
    memory: PointMemory
    last: Frame

    @property
    def keys(self) -> str:
        """The keys held for this step (``""`` for a text or pose action: the null action)."""
        return self.action.value if self.action.kind == "keys" else ""


@dataclass(frozen=True, eq=False)
class Produced:
    """A backend's answer to one step, from which the session builds the :class:`Frame` once:
    ``rgb (H, W, 3)`` uint8, ``depth (H, W)`` float32 metres (0 = unknown), ``pose (4, 4)`` float32,
    ``K (3, 3)`` float32, ``coverage (H, W)`` bool (pixels backed by observation or memory),
    ``timings`` (ms per stage); ``remember``: what enters the point memory (None: nothing);
    ``moved``: the backend moved the camera itself (an engine, with momentum and collisions): the
    controls follow ``pose`` instead of the pose they asked for."""

    rgb: np.ndarray
    depth: np.ndarray
    pose: np.ndarray
    K: np.ndarray
    coverage: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    remember: MemoryWrite | None = None
    moved: bool = False


class Backend(abc.ABC):
    """Produces frames. Subclasses implement :meth:`step`; the other hooks are optional."""

    name = "backend"

    def first(self, frame: Frame) -> Frame:
        """Called with the start frame (already in the memory); may return it changed."""
        return frame

    @abc.abstractmethod
    def step(self, request: StepRequest) -> Produced:
        """The frame at ``request.pose`` (see :class:`StepRequest`)."""

    def observe(self, frame: Frame) -> None:  # noqa: B027 - optional hook
        """Teacher forcing: ``frame`` (the truth) replaces the backend's own latest frame."""

    def controller_steps(self, steps: KeyStepConfig) -> KeyStepConfig:
        """The key step sizes the session's controller uses with this backend."""
        return steps

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What a saved session needs to continue exactly where it stopped (tensors only)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:  # noqa: B027 - optional hook
        """Restore :meth:`state_dict` (called after :meth:`first` on the saved current frame)."""


@dataclass(frozen=True)
class BackendContext:
    """What building a backend may use: ``world`` the :class:`~loci.world.WorldConfig`; ``preset``
    the session's :class:`~loci.world.presets.WorldPreset`; ``engine`` the engine of an engine
    session (None otherwise); ``engine_start_pose`` ``(4, 4)``: that engine's pose at the start;
    ``models``: loads the learned weights (once per World) and returns ``(world model, tokenizer)``."""

    world: Any
    preset: Any
    engine: Engine | None = None
    engine_start_pose: np.ndarray | None = None
    models: Callable[[], tuple[Any, Any]] | None = None


@dataclass(frozen=True)
class BackendSpec:
    """A backend as the registry knows it. ``build(context) -> Backend``; ``summary``: one line for
    ``--help``; ``learned``: runs learned weights (a saved session records their digests, the
    engine's light falloff applies); ``starts_from_image``: can start from an image (the engine
    starts only from its own first frame); ``needs_depth``: a start image without depth gets the
    depth net's; ``driven_by``: ``poses`` (the controls' target camera) or ``keys`` (the engine
    moves itself); ``resume``: a saved session comes back from its ``state`` or by ``replay`` of its
    actions; ``weights``: which shipped world-model checkpoint a learned backend loads when none is
    given (``world``: the memory-conditioned world model, ``student``: its distilled student)."""

    name: str
    build: Callable[[BackendContext], Backend]
    summary: str
    learned: bool = False
    starts_from_image: bool = True
    needs_depth: bool = True
    driven_by: Literal["poses", "keys"] = "poses"
    resume: Literal["state", "replay"] = "state"
    weights: Literal["world", "student"] = "world"
