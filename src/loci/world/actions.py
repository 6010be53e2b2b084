"""What ``Session.step`` accepts: keys, a list of keys held together, a text command, or a target pose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from loci.control import KEYS, NOOP, canonical_keys
from loci.geometry import check_pose

MAX_TEXT = 500
Action = str | list[str] | tuple[str, ...] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class ParsedAction:
    """kind: ``keys`` (value: canonical key string), ``text`` (value: the command) or ``pose``
    (pose: ``(4, 4)`` float64 target in the global frame); label: how the action is recorded."""

    kind: Literal["keys", "text", "pose"]
    value: str
    pose: torch.Tensor | None = None

    @property
    def label(self) -> str:
        return self.value if self.kind != "pose" else "pose"


def _is_keys(text: str) -> bool:
    return (
        len(text) <= len(KEYS) + 1
        and all(c in KEYS or c == NOOP for c in text.upper())
        and text.upper() == text
    )


def parse_action(action: Action) -> ParsedAction:
    """Classify an action; raises ``ValueError`` with the reason for anything else.

    - ``"W"``, ``"WQ"``, ``"."``: upper-case key strings (one step, keys held together);
    - ``["W", "Q"]``: keys held together;
    - any other string: a text command (``"turn left 30 degrees"``), at most 500 characters;
    - a ``(4, 4)`` array or tensor: a target camera-to-world pose in the session's global frame.
    """
    if isinstance(action, str):
        if _is_keys(action) and action:
            return ParsedAction("keys", canonical_keys(action))
        if not action.strip():
            raise ValueError("empty action: send keys (e.g. 'W'), '.' for no-op, or a text command")
        if len(action) > MAX_TEXT:
            raise ValueError(f"text command is {len(action)} characters; the limit is {MAX_TEXT}")
        return ParsedAction("text", action.strip())
    if isinstance(action, list | tuple):
        if not all(isinstance(k, str) for k in action):
            raise ValueError("a list action must hold key strings, e.g. ['W', 'Q']")
        return ParsedAction("keys", canonical_keys("".join(action)))
    if isinstance(action, np.ndarray | torch.Tensor):
        pose = torch.as_tensor(np.asarray(action) if isinstance(action, np.ndarray) else action).to(
            torch.float64
        )
        if pose.shape != (4, 4):
            raise ValueError(f"a pose action must be (4, 4), got {tuple(pose.shape)}")
        check_pose(pose, "pose action")
        return ParsedAction("pose", "pose", pose)
    raise ValueError(f"unsupported action type {type(action).__name__}: use keys, text or a (4, 4) pose")
