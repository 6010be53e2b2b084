"""Accumulate key steps into a global camera pose, in "fly" or "walk" mode.

- ``fly``: pure 6-DoF, ``pose = pose @ key_delta(keys)``; pitch is unlimited and rolls can build up
  from combined turns and pitches.
- ``walk`` (FPS / Doom style): the world's vertical axis is the global frame's y axis (up = -y,
  because the global frame is the first camera's OpenCV frame). The state is a position, a heading
  (yaw about world y) and a separate pitch clamped to ``±max_pitch_deg``; the rotation is
  ``Ry(yaw) @ Rx(pitch)``, so there is never any roll. W/S/A/D move in the horizontal plane of the
  heading whatever the pitch; a combined move-and-turn follows the same arc as in fly mode.
  A start pose's roll is dropped and its pitch clamped, so ``.pose`` after construction may differ
  from ``start`` in walk mode.
The state is kept in float64 (no drift over long sessions); poses come out as float32 ``(4, 4)``.
"""

from __future__ import annotations

import functools
import math
from typing import Literal, NamedTuple, get_args

import torch

from loci.geometry import check_pose, make_pose, se3_exp

from .angles import ypr_angles, ypr_matrix
from .keys import KeyStepConfig, canonical_keys, key_delta, key_twist

Mode = Literal["fly", "walk"]
MODES: tuple[str, ...] = get_args(Mode)
_CLAMP_TOL = 1e-9  # radians: reaching the pitch limit up to rounding is not clamping


class Planned(NamedTuple):
    """A move not made yet: ``pose`` ``(4, 4)`` float32 it leads to, ``state`` the controller's after it."""

    pose: torch.Tensor
    state: tuple[torch.Tensor, float, float, torch.Tensor]


class PoseController:
    """Turns key steps into camera-to-world poses ``(4, 4)`` float32 in the global frame."""

    def __init__(
        self, cfg: KeyStepConfig | None = None, start: torch.Tensor | None = None, mode: Mode = "fly"
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.cfg = cfg or KeyStepConfig()
        self.mode: Mode = mode
        self.reset(torch.eye(4) if start is None else start)

    # --- state ------------------------------------------------------------------------------------
    def reset(self, start: torch.Tensor | None = None) -> torch.Tensor:
        """Go back to the start pose (or to a new ``start`` ``(4, 4)``); returns the pose."""
        if start is not None:
            check_pose(start, "start")
            if start.shape != (4, 4):
                raise ValueError(f"start must have shape (4, 4), got {tuple(start.shape)}")
            self._start = start.detach().to("cpu", torch.float64).clone()
        self._pose = self._start.clone()  # fly-mode state
        yaw, pitch, _ = ypr_angles(self._start[:3, :3])
        self._yaw = yaw  # walk-mode state: heading, clamped pitch, position
        self._pitch = self._clamp(pitch)
        self._position = self._start[:3, 3].clone()
        return self.pose

    @property
    def pose(self) -> torch.Tensor:
        """Current camera-to-world pose ``(4, 4)`` float32."""
        return self._pose64().to(torch.float32)

    @property
    def pitch_deg(self) -> float:
        """Walk-mode pitch in degrees (``> 0`` looks up); in fly mode, the pitch of the current pose."""
        if self.mode == "walk":
            return math.degrees(self._pitch)
        return math.degrees(ypr_angles(self._pose[:3, :3])[1])

    def set_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """Move to ``pose`` ``(4, 4)`` (e.g. after a text command or a target pose); keeps the start.

        In walk mode the pose's roll is dropped and its pitch clamped, as for a start pose.
        """
        return self.apply(self.plan_pose(pose))

    def state(self) -> torch.Tensor:
        """The exact controller state as a float64 tensor ``(21,)``: start (16), yaw, pitch, position (3).

        In fly mode the pose itself is the state: ``(32,)`` = start (16) + pose (16).
        """
        if self.mode == "fly":
            return torch.cat([self._start.reshape(-1), self._pose.reshape(-1)])
        return torch.cat(
            [
                self._start.reshape(-1),
                torch.tensor([self._yaw, self._pitch], dtype=torch.float64),
                self._position,
            ]
        )

    def load_state(self, state: torch.Tensor) -> None:
        """Restore :meth:`state` exactly."""
        want = 32 if self.mode == "fly" else 21
        if state.shape != (want,) or not bool(torch.isfinite(state).all()):
            raise ValueError(
                f"{self.mode}-mode controller state must be ({want},) finite, got {tuple(state.shape)}"
            )
        st = state.to(torch.float64)
        self._start = st[:16].reshape(4, 4).clone()
        if self.mode == "fly":
            self._pose = st[16:].reshape(4, 4).clone()
        else:
            self._yaw, self._pitch, self._position = float(st[16]), float(st[17]), st[18:21].clone()

    # --- stepping ---------------------------------------------------------------------------------
    def step(self, keys: str) -> torch.Tensor:
        """Apply one step of held keys (e.g. ``"W"``, ``"WQ"``, ``"."``); returns the new pose ``(4, 4)``."""
        return self.apply(self.plan(keys))

    def peek(self, keys: str) -> torch.Tensor:
        """The pose ``(4, 4)`` that ``step(keys)`` would give, without moving."""
        return self.plan(keys).pose

    def plan(self, keys: str) -> Planned:
        """The move ``step(keys)`` would make, without making it (:meth:`apply` makes it)."""
        state = self._next(keys)
        return Planned(self._pose_of(state), state)

    def plan_pose(self, pose: torch.Tensor) -> Planned:
        """The move ``set_pose(pose)`` would make (walk mode drops roll and clamps pitch), without making it."""
        check_pose(pose, "pose")
        p = pose.detach().to("cpu", torch.float64)
        yaw, pitch, _ = ypr_angles(p[:3, :3])
        state = (p.clone(), yaw, self._clamp(pitch), p[:3, 3].clone())
        return Planned(self._pose_of(state), state)

    def apply(self, planned: Planned) -> torch.Tensor:
        """Make a move from :meth:`plan` / :meth:`plan_pose` (of this state); returns the new pose."""
        self._pose, self._yaw, self._pitch, self._position = planned.state
        return self.pose

    def _pose_of(self, state: tuple[torch.Tensor, float, float, torch.Tensor]) -> torch.Tensor:
        pose, yaw, pitch, position = state
        if self.mode == "fly":
            return pose.to(torch.float32)
        return make_pose(ypr_matrix(yaw, pitch), position).to(torch.float32)

    def would_clamp(self, keys: str) -> bool:
        """Whether ``step(keys)`` would hit the walk-mode pitch limit (then its inverse would not undo it)."""
        if self.mode != "walk":
            return False
        wanted = self._pitch + float(key_twist(keys, self.cfg)[3])
        return abs(self._clamp(wanted) - wanted) > _CLAMP_TOL

    def _next(self, keys: str) -> tuple[torch.Tensor, float, float, torch.Tensor]:
        if self.mode == "fly":
            pose = self._pose @ key_delta(keys, self.cfg, torch.float64)
            return pose, self._yaw, self._pitch, self._position
        xi = key_twist(keys, self.cfg)
        heading = make_pose(ypr_matrix(self._yaw, 0.0), self._position)
        heading = heading @ _walk_delta(canonical_keys(keys), self.cfg)
        yaw = self._yaw + float(xi[4])
        pitch = self._clamp(self._pitch + float(xi[3]))
        return self._pose, yaw, pitch, heading[:3, 3].clone()

    def _clamp(self, pitch: float) -> float:
        limit = math.radians(self.cfg.max_pitch_deg)
        return max(-limit, min(limit, pitch))

    def _pose64(self) -> torch.Tensor:
        if self.mode == "fly":
            return self._pose
        return make_pose(ypr_matrix(self._yaw, self._pitch), self._position)


@functools.lru_cache(maxsize=1024)
def _walk_delta(keys: str, cfg: KeyStepConfig) -> torch.Tensor:
    """Cached heading-frame delta ``(4, 4)`` float64 of a walk step: no pitch, no vertical motion."""
    planar = key_twist(keys, cfg)
    planar[[1, 3, 5]] = 0  # walk moves in the heading plane and turns about the vertical only
    return se3_exp(planar)
