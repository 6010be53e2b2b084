"""Text commands <-> camera-frame pose deltas.

Grammar (case-insensitive), clauses joined by ``and``, ``then``, ``,``, ``;`` or ``.``::

    move|go|walk|step|fly  forward|ahead|back|backward|left|right|up|down  [by] [N [m|metres|...]]
    strafe                 left|right                                      [by] [N [m]]
    turn|rotate|yaw        left|right [by] [N [deg|degrees|°|rad]]  |  turn around  (= 180°)
    look|pitch|tilt        up|down    [by] [N [deg]]
    roll                   left|right [by] [N [deg]]
    stay [still] | wait | stop                                                      (identity)

A missing amount is one key step of :class:`KeyStepConfig` (roll uses ``turn_deg``). Signs follow
:mod:`loci.control.keys`: ``turn left`` = key Q, ``look up`` = key R, ``strafe left`` = key A.

:func:`describe_delta` is the reverse (as DeepVerse derives text actions from camera motion). Its
canonical order is translations first (forward/back, strafe, up/down, all in the start camera's frame),
then ``turn``, ``look``, ``roll`` — i.e. ``delta = T(t) @ Ry(yaw) @ Rx(pitch) @ Rz(roll)`` — so
composing the parsed clauses in order reproduces the delta up to rounding and the thresholds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from loci.geometry import check_pose, se3_exp

from .angles import ypr_angles
from .keys import KeyStepConfig


@dataclass(frozen=True)
class TextConfig:
    """Limits and formatting of text commands.

    max_chars: longest accepted command. move_decimals / angle_decimals: rounding in descriptions.
    min_move_m / min_angle_deg: components whose rounded size is below these are left out.
    max_move_m / max_angle_deg: the largest amount one clause may ask for (``move forward 1e9`` is
    refused, not walked): 100 m, ten full turns.
    """

    max_chars: int = 500
    max_move_m: float = 100.0
    max_angle_deg: float = 3600.0
    move_decimals: int = 2
    angle_decimals: int = 1
    min_move_m: float = 0.01
    min_angle_deg: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_chars", "move_decimals", "angle_decimals"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "max_chars" else 0):
                sign = "positive" if name == "max_chars" else "non-negative"
                raise ValueError(f"TextConfig.{name} must be a {sign} int, got {v!r}")
        for name in ("max_move_m", "max_angle_deg"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < math.inf:
                raise ValueError(f"TextConfig.{name} must be a positive finite number, got {v!r}")
        for name in ("min_move_m", "min_angle_deg"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v >= 0):
                raise ValueError(f"TextConfig.{name} must be a finite number >= 0, got {v!r}")


_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|[a-z]+|\S")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_SEPARATORS = {",", ";", ".", "and", "then"}
_FILLERS = {"by"}
_STAY = {"stay", "wait", "stop"}
_FORWARD, _BACK = (2, +1), (2, -1)
_MOVE_DIRS = {"forward": _FORWARD, "forwards": _FORWARD, "ahead": _FORWARD, "back": _BACK, "backward": _BACK}
_MOVE_DIRS |= {"backwards": _BACK, "left": (0, -1), "right": (0, +1), "up": (1, -1), "down": (1, +1)}
# verb -> (kind, {direction: (twist index, sign)}); twist = (rho_x, rho_y, rho_z, omega_x, omega_y, omega_z)
_VERBS: dict[str, tuple[str, dict[str, tuple[int, int]]]] = {
    **{v: ("move", _MOVE_DIRS) for v in ("move", "go", "walk", "step", "fly")},
    "strafe": ("move", {"left": (0, -1), "right": (0, +1)}),
    **{
        v: ("turn", {"left": (4, -1), "right": (4, +1), "around": (4, +1)}) for v in ("turn", "rotate", "yaw")
    },
    **{v: ("pitch", {"up": (3, +1), "down": (3, -1)}) for v in ("look", "pitch", "tilt")},
    "roll": ("roll", {"left": (5, -1), "right": (5, +1)}),
}
_DISTANCE_UNITS = {u: 1.0 for u in ("m", "meter", "meters", "metre", "metres")}
_ANGLE_UNITS = {u: 1.0 for u in ("deg", "degree", "degrees", "°")} | {
    u: 180 / math.pi for u in ("rad", "radian", "radians")
}
_VOCABULARY = (
    _SEPARATORS | _FILLERS | _STAY | {"still"} | set(_VERBS) | set(_DISTANCE_UNITS) | set(_ANGLE_UNITS)
)
_VOCABULARY |= {d for _, dirs in _VERBS.values() for d in dirs}


def _bad_word(word: str, clause: list[str], expected: str) -> ValueError:
    kind = "unexpected" if word in _VOCABULARY else "unknown"
    return ValueError(f"{kind} word {word!r} in {' '.join(clause)!r}; expected {expected}")


def _clause_twist(clause: list[str], steps: KeyStepConfig, cfg: TextConfig) -> torch.Tensor:
    """Twist ``(6,)`` float64 of one clause (a list of tokens)."""
    xi = torch.zeros(6, dtype=torch.float64)
    verb, rest = clause[0], clause[1:]
    if verb in _STAY:
        if rest not in ([], ["still"]):
            raise _bad_word(rest[-1], clause, "nothing after 'stay [still]'")
        return xi
    if verb not in _VERBS:
        raise _bad_word(verb, clause, f"a verb ({', '.join(sorted(_VERBS | dict.fromkeys(_STAY)))})")
    kind, dirs = _VERBS[verb]
    if not rest or rest[0] not in dirs:
        word = rest[0] if rest else "<end>"
        raise _bad_word(word, clause, f"a direction after {verb!r} ({', '.join(dirs)})")
    index, sign = dirs[rest[0]]
    if rest[0] == "around":
        if rest[1:]:
            raise _bad_word(rest[1], clause, "nothing after 'turn around'")
        xi[index] = math.pi
        return xi
    rest = rest[1:]
    if rest and rest[0] in _FILLERS:
        rest = rest[1:]
    if kind == "move":
        amount, units = steps.move_m, _DISTANCE_UNITS
    else:
        amount, units = (steps.pitch_deg if kind == "pitch" else steps.turn_deg), _ANGLE_UNITS
    if rest and _NUMBER.fullmatch(rest[0]):
        amount = float(rest[0])
        if not math.isfinite(amount):
            raise ValueError(f"amount {rest[0][:20]!r}... in {' '.join(clause)!r} is not a finite number")
        rest = rest[1:]
        if rest and rest[0] in units:
            amount *= units[rest[0]]
            rest = rest[1:]
    if rest:
        what = "distance" if kind == "move" else "angle"
        raise _bad_word(rest[0], clause, f"at most an amount and its {what} unit ({', '.join(units)})")
    limit, unit = (cfg.max_move_m, "m") if kind == "move" else (cfg.max_angle_deg, "degrees")
    if abs(amount) > limit:
        raise ValueError(
            f"{' '.join(clause)[:60]!r} asks for {amount:.4g} {unit}; one clause moves at most {limit:g} {unit}"
        )
    xi[index] = sign * (amount if kind == "move" else math.radians(amount))
    return xi


def parse_text(
    text: str, steps: KeyStepConfig | None = None, cfg: TextConfig | None = None
) -> list[torch.Tensor]:
    """Camera-frame deltas ``(4, 4)`` float32, one per clause, to be applied in order.

    Raises ``ValueError`` for empty or over-long text and for unknown or misplaced words.
    """
    steps, cfg = steps or KeyStepConfig(), cfg or TextConfig()
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if len(text) > cfg.max_chars:
        raise ValueError(f"text is {len(text)} characters long; the limit is {cfg.max_chars}")
    clauses: list[list[str]] = [[]]
    for token in _TOKEN.findall(text.lower()):
        if token in _SEPARATORS:
            clauses.append([])
        else:
            clauses[-1].append(token)
    clauses = [c for c in clauses if c]
    if not clauses:
        raise ValueError(f"empty command {text!r}; say 'stay still' to stand still")
    return [se3_exp(_clause_twist(c, steps, cfg)).to(torch.float32) for c in clauses]


def compose_deltas(deltas: Sequence[torch.Tensor]) -> torch.Tensor:
    """Compose deltas ``[(4, 4), ...]`` in order: ``d0 @ d1 @ ...`` ``(4, 4)`` (float64 inside)."""
    out = torch.eye(4, dtype=torch.float64)
    for i, d in enumerate(deltas):
        out = out @ check_pose(d, f"delta {i}").to(torch.float64)
    return out.to(torch.float32)


def text_delta(text: str, steps: KeyStepConfig | None = None, cfg: TextConfig | None = None) -> torch.Tensor:
    """The single camera-frame delta ``(4, 4)`` float32 of a whole command."""
    return compose_deltas(parse_text(text, steps, cfg))


def _fmt_angle(value: float, decimals: int) -> str:
    s = f"{value:.{decimals}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def describe_delta(delta: torch.Tensor, cfg: TextConfig | None = None) -> str:
    """Describe a camera-frame delta ``(4, 4)``, e.g. ``"move forward 0.50 m and turn left 12 degrees"``.

    Canonical order: translations, then turn, look, roll (see the module docstring). Components whose
    rounded size is below the thresholds are left out; a delta with none left is ``"stay still"``.
    The parse of a description matches the delta for ``|pitch| < 90°`` (yaw and roll are undefined there).
    """
    cfg = cfg or TextConfig()
    check_pose(delta, "delta")
    if delta.shape != (4, 4):
        raise ValueError(f"delta must have shape (4, 4), got {tuple(delta.shape)}")
    d = delta.detach().to("cpu", torch.float64)
    t = [float(x) for x in d[:3, 3]]
    clauses = []
    moves = (
        (t[2], "move forward", "move back"),
        (t[0], "strafe right", "strafe left"),
        (-t[1], "move up", "move down"),
    )
    for value, pos, neg in moves:
        r = round(value, cfg.move_decimals)
        if r != 0 and abs(r) >= cfg.min_move_m:
            clauses.append(f"{pos if r > 0 else neg} {abs(r):.{cfg.move_decimals}f} m")
    yaw, pitch, roll = (round(math.degrees(a), cfg.angle_decimals) for a in ypr_angles(d[:3, :3]))
    turns = (
        (yaw, "turn right", "turn left"),
        (pitch, "look up", "look down"),
        (roll, "roll right", "roll left"),
    )
    for value, pos, neg in turns:
        if value == 0 or abs(value) < cfg.min_angle_deg:
            continue
        if abs(value) >= 180:  # ±180 is one rotation: name it one way so the round trip is stable
            clauses.append("turn around" if pos == "turn right" else f"{pos} 180 degrees")
        else:
            clauses.append(
                f"{pos if value > 0 else neg} {_fmt_angle(abs(value), cfg.angle_decimals)} degrees"
            )
    return " and ".join(clauses) or "stay still"
