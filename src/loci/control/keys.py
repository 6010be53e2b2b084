"""The key vocabulary and the camera-frame pose delta of one key step.

Keys (case-insensitive): ``W``/``S`` forward/back, ``A``/``D`` strafe left/right, ``Q``/``E`` turn
(yaw) left/right, ``R``/``F`` look (pitch) up/down, ``.`` (or the empty string) does nothing.
A step may hold several keys at once (``"WQ"``: forward while turning); opposite keys cancel and a
key held twice counts once. Signs in the OpenCV camera frame (x right, y down, z forward):
- ``W`` moves along +z, ``D`` along +x (so ``A`` moves the centre toward -x),
- ``Q`` rotates about -y (what was left of the image comes to the centre), ``E`` about +y,
- ``R`` rotates about +x (the view tilts up, so points above the centre move down in the image).
One step is ``se3_exp`` of the summed twist, so a combined move-and-turn follows an arc whose length
is ``move_m``; a single key moves exactly ``move_m`` metres or turns exactly its angle.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from loci.geometry import se3_exp

NOOP = "."
KEYS = "WSADQERF"
# key -> (twist index, sign, step field); twist = (rho_x, rho_y, rho_z, omega_x, omega_y, omega_z)
_KEY_AXES: dict[str, tuple[int, int, str]] = {
    "W": (2, +1, "move"),
    "S": (2, -1, "move"),
    "A": (0, -1, "move"),
    "D": (0, +1, "move"),
    "Q": (4, -1, "turn"),
    "E": (4, +1, "turn"),
    "R": (3, +1, "pitch"),
    "F": (3, -1, "pitch"),
}
OPPOSITE = {"W": "S", "S": "W", "A": "D", "D": "A", "Q": "E", "E": "Q", "R": "F", "F": "R"}


@dataclass(frozen=True)
class KeyStepConfig:
    """Step sizes of one key press.

    move_m: metres per step for W/S/A/D. turn_deg: yaw per step for Q/E. pitch_deg: pitch per step
    for R/F. max_pitch_deg: walk-mode pitch limit (fly mode has none).
    """

    move_m: float = 0.25
    turn_deg: float = 10.0
    pitch_deg: float = 5.0
    max_pitch_deg: float = 60.0

    def __post_init__(self) -> None:
        # field -> (upper bound, whether the bound itself is allowed); every field must be > 0
        limits = {"move_m": (math.inf, False), "turn_deg": (180.0, True), "pitch_deg": (90.0, True)}
        limits["max_pitch_deg"] = (90.0, False)
        for name, (hi, closed) in limits.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"KeyStepConfig.{name} must be a finite number, got {v!r}")
            if not (0 < v < hi or (closed and v == hi)):
                raise ValueError(f"KeyStepConfig.{name} must be in (0, {hi}{']' if closed else ')'}, got {v}")

    def amount(self, field: str) -> float:
        """Step size of a key kind in internal units: metres, or radians for ``turn``/``pitch``."""
        if field == "move":
            return float(self.move_m)
        return math.radians(self.turn_deg if field == "turn" else self.pitch_deg)


def parse_keys(keys: str) -> frozenset[str]:
    """The set of upper-case keys held in one step; ``""`` and ``"."`` give the empty set.

    Raises ``ValueError`` naming an unknown key and the allowed set.
    """
    if not isinstance(keys, str):
        raise TypeError(f"keys must be a str, got {type(keys).__name__}")
    held = set()
    for ch in keys.upper():
        if ch == NOOP:
            continue
        if ch not in _KEY_AXES:
            raise ValueError(
                f"unknown key {ch!r} in {keys!r}; allowed: {', '.join(KEYS)} and {NOOP!r} (no-op)"
            )
        held.add(ch)
    return frozenset(held)


def canonical_keys(keys: str) -> str:
    """One step's keys in ``KEYS`` order, ``"."`` when nothing is held: ``"qw"`` -> ``"WQ"``."""
    held = parse_keys(keys)
    return "".join(k for k in KEYS if k in held) or NOOP


def invert_keys(keys: str) -> str:
    """The step that undoes ``keys``: every key swapped for its opposite (``"WQ"`` -> ``"SE"``)."""
    return canonical_keys("".join(OPPOSITE[k] for k in parse_keys(keys)))


def key_twist(
    keys: str, cfg: KeyStepConfig | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Camera-frame twist ``(6,)`` = ``(rho, omega)`` of one step (metres, radians)."""
    return _twist(parse_keys(keys), cfg or KeyStepConfig()).to(dtype, copy=True)


def key_delta(
    keys: str, cfg: KeyStepConfig | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Camera-frame delta ``(4, 4)`` of one step (float32 by default); apply as ``new = pose @ delta``."""
    return _delta(parse_keys(keys), cfg or KeyStepConfig()).to(dtype, copy=True)


@functools.lru_cache(maxsize=1024)
def _twist(held: frozenset[str], cfg: KeyStepConfig) -> torch.Tensor:
    """Cached float64 twist ``(6,)`` of a set of held keys; callers get copies."""
    xi = torch.zeros(6, dtype=torch.float64)
    for k in held:
        index, sign, field = _KEY_AXES[k]
        xi[index] += sign * cfg.amount(field)
    return xi


@functools.lru_cache(maxsize=1024)
def _delta(held: frozenset[str], cfg: KeyStepConfig) -> torch.Tensor:
    """Cached float64 ``se3_exp`` ``(4, 4)`` of the twist; callers get copies."""
    return se3_exp(_twist(held, cfg))


# Discrete action vocabulary for learned models: each of the four axes (W/S, A/D, Q/E, R/F) is
# none, positive or negative, so a step's held keys map to one of 3**4 = 81 ids (0 = no key).
ACTION_AXES: tuple[tuple[str, str], ...] = (("W", "S"), ("A", "D"), ("Q", "E"), ("R", "F"))
NUM_ACTIONS = 3 ** len(ACTION_AXES)


def action_id(keys: str) -> int:
    """The id ``[0, 81)`` of one step's keys (opposite keys cancel; ``"."`` and ``""`` are 0)."""
    held = parse_keys(keys)
    code = 0
    for i, (a, b) in enumerate(ACTION_AXES):
        digit = 0 if (a in held) == (b in held) else (1 if a in held else 2)
        code += digit * 3**i
    return code


def action_keys(code: int) -> str:
    """Inverse of :func:`action_id` (canonical key string, ``"."`` for 0)."""
    if not 0 <= code < NUM_ACTIONS:
        raise ValueError(f"action id must be in [0, {NUM_ACTIONS}), got {code}")
    held = ""
    for i, (a, b) in enumerate(ACTION_AXES):
        digit = (code // 3**i) % 3
        held += "" if digit == 0 else (a if digit == 1 else b)
    return canonical_keys(held)
