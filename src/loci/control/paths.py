"""Deterministic camera paths: straight lines, pans, orbits, key sequences and out-and-back loops.

Every generator returns a :class:`Trajectory` whose first pose is the start (``n`` steps give
``n + 1`` poses), except :func:`orbit`, which gives ``n`` poses spaced evenly around the circle.
Poses are computed in float64 and stored as float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from loci.geometry import check_pose, look_at, make_pose

from .angles import axis_rotation
from .controller import Mode, PoseController
from .keys import KeyStepConfig, canonical_keys, invert_keys
from .text import describe_delta
from .trajectory import Trajectory

# camera-frame unit directions (OpenCV: x right, y down, z forward)
DIRECTIONS = {
    "forward": (0.0, 0.0, 1.0),
    "back": (0.0, 0.0, -1.0),
    "left": (-1.0, 0.0, 0.0),
    "right": (1.0, 0.0, 0.0),
    "up": (0.0, -1.0, 0.0),
    "down": (0.0, 1.0, 0.0),
}
PAN_AXES = {"yaw": 1, "pitch": 0, "roll": 2}


def _start(start: torch.Tensor | None) -> torch.Tensor:
    """Validated start pose ``(4, 4)`` float64 (identity by default)."""
    if start is None:
        return torch.eye(4, dtype=torch.float64)
    check_pose(start, "start")
    if start.shape != (4, 4):
        raise ValueError(f"start must have shape (4, 4), got {tuple(start.shape)}")
    return start.detach().to("cpu", torch.float64)


def _count(n: int, name: str = "n", minimum: int = 0) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {n!r}")
    return n


def _finite(x: float, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return float(x)


def _with_text_actions(poses: torch.Tensor, K: torch.Tensor | None, name: str) -> Trajectory:
    """Trajectory whose actions describe each step in words (see :func:`describe_delta`)."""
    traj = Trajectory(poses.to(torch.float32), K, None, name)
    actions = [describe_delta(d) for d in traj.deltas()]
    return Trajectory(traj.poses, K, actions, name)


def straight(
    start: torch.Tensor | None,
    n: int,
    step: float,
    direction: str = "forward",
    K: torch.Tensor | None = None,
    name: str = "straight",
) -> Trajectory:
    """``n`` steps of ``step`` metres along a camera-frame ``direction`` (a key of ``DIRECTIONS``)."""
    s0, n, step = _start(start), _count(n), _finite(step, "step")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {tuple(DIRECTIONS)}, got {direction!r}")
    unit = torch.tensor(DIRECTIONS[direction], dtype=torch.float64)
    k = torch.arange(n + 1, dtype=torch.float64)
    deltas = make_pose(torch.eye(3, dtype=torch.float64).expand(n + 1, 3, 3), k[:, None] * step * unit)
    return _with_text_actions(s0 @ deltas, K, name)


def pan(
    start: torch.Tensor | None,
    n: int,
    total_deg: float,
    axis: str = "yaw",
    K: torch.Tensor | None = None,
    name: str = "pan",
) -> Trajectory:
    """Rotate in place by ``total_deg`` in ``n`` equal steps about a camera axis.

    ``axis``: ``"yaw"`` (``total_deg > 0`` turns right), ``"pitch"`` (``> 0`` looks up) or ``"roll"``
    (``> 0`` rolls right), the signs of :mod:`loci.control.angles`.
    """
    s0, n, total = _start(start), _count(n, minimum=1), _finite(total_deg, "total_deg")
    if axis not in PAN_AXES:
        raise ValueError(f"axis must be one of {tuple(PAN_AXES)}, got {axis!r}")
    rots = [axis_rotation(PAN_AXES[axis], math.radians(total) * k / n) for k in range(n + 1)]
    deltas = make_pose(torch.stack(rots), torch.zeros(n + 1, 3, dtype=torch.float64))
    return _with_text_actions(s0 @ deltas, K, name)


def orbit(
    center: torch.Tensor | Sequence[float],
    radius: float,
    n: int,
    height: float = 0.0,
    look_at_center: bool = True,
    K: torch.Tensor | None = None,
    name: str = "orbit",
) -> Trajectory:
    """``n`` poses evenly spaced on a horizontal circle around ``center`` ``(3,)`` (world frame).

    The circle lies ``height`` metres above the centre (up is -y of the global frame). Pose ``i`` sits
    at ``center + (r sin θ, -height, -r cos θ)``, ``θ = 2π i / n``: the first camera is behind the
    centre along -z and the orbit moves to its right. Cameras look at the centre, or along the
    direction of travel when ``look_at_center`` is False.
    """
    n, r, h = _count(n, minimum=1), _finite(radius, "radius"), _finite(height, "height")
    if r <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    c = torch.as_tensor(center, dtype=torch.float64).detach().cpu()
    if c.shape != (3,) or not bool(torch.isfinite(c).all()):
        raise ValueError(f"center must be 3 finite numbers, got {center!r}")
    theta = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    zero = torch.zeros_like(theta)
    eye = c + torch.stack([r * torch.sin(theta), zero - h, -r * torch.cos(theta)], -1)
    if look_at_center:
        poses = look_at(eye, c.expand_as(eye))
    else:
        poses = look_at(eye, eye + torch.stack([torch.cos(theta), zero, torch.sin(theta)], -1))
    return _with_text_actions(poses, K, name)


def _key_steps(keys: str | Sequence[str]) -> list[str]:
    """A key string is one key per step (``"WWQ"``); a list holds one combo per step (``["WQ", "W"]``)."""
    steps = list(keys)
    if not all(isinstance(k, str) for k in steps):
        raise ValueError("keys must be a str or a list of str")
    return [canonical_keys(k) for k in steps]


def from_keys(
    start: torch.Tensor | None,
    keys: str | Sequence[str],
    cfg: KeyStepConfig | None = None,
    mode: Mode = "fly",
    K: torch.Tensor | None = None,
    name: str = "keys",
) -> Trajectory:
    """Run key steps through a :class:`PoseController`; ``len(steps) + 1`` poses, actions = the steps."""
    steps = _key_steps(keys)
    ctl = PoseController(cfg, None if start is None else _start(start), mode)
    poses = [ctl.pose] + [ctl.step(k) for k in steps]
    return Trajectory(torch.stack(poses), K, steps, name)


def loop_back(
    start: torch.Tensor | None,
    keys_out: str | Sequence[str],
    cfg: KeyStepConfig | None = None,
    mode: Mode = "fly",
    K: torch.Tensor | None = None,
    name: str = "loop_back",
) -> Trajectory:
    """Go out with ``keys_out`` and come back by the inverse steps in reverse order.

    ``2 n + 1`` poses with ``poses[n + k] ≈ poses[n - k]``; the last pose equals the first. In walk
    mode an outbound step that hits the pitch limit could not be undone: ``ValueError``.
    """
    out = _key_steps(keys_out)
    back = [invert_keys(k) for k in reversed(out)]
    ctl = PoseController(cfg, None if start is None else _start(start), mode)
    poses = [ctl.pose]
    for i, k in enumerate(out):
        if ctl.would_clamp(k):
            raise ValueError(f"step {i} ({k!r}) hits the walk-mode pitch limit; the return could not undo it")
        poses.append(ctl.step(k))
    poses += [ctl.step(k) for k in back]
    return Trajectory(torch.stack(poses), K, out + back, name)
