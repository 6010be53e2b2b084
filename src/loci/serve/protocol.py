"""The player's WebSocket protocol: client messages parsed into typed, validated dataclasses.

Client → server (JSON objects, at most ``MAX_MESSAGE_BYTES``):

- ``{"type": "step", "keys": "WQ", "t": 123.4, "seq": 7}``: one step with these keys held
  (``"."`` or ``""`` for none); ``t`` (client ms) and ``seq`` are echoed in the frame.
- ``{"type": "text", "text": "turn left 30 degrees", "t": ..., "seq": ...}``: a text command.
- ``{"type": "reset"}``, ``{"type": "list"}``, ``{"type": "save", "name": "my_world"}``,
  ``{"type": "load", "name": "my_world"}``.

Anything else raises :class:`ProtocolError` with a message meant for the user.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from loci.world import parse_action

MAX_MESSAGE_BYTES = 4096
MAX_TEXT = 500
MAX_T_MS = 1e15  # |t|: client milliseconds (Date.now() is about 1.8e12)
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ProtocolError(ValueError):
    """A client message that cannot be served; ``seq`` is echoed when the message had one."""

    def __init__(self, message: str, seq: int | None = None):
        super().__init__(message)
        self.seq = seq


@dataclass(frozen=True)
class Step:
    """Keys held for one step, canonical (``"WQ"``, ``"."`` for none)."""

    keys: str
    t: float | None = None
    seq: int | None = None


@dataclass(frozen=True)
class Text:
    """A text command (1..``MAX_TEXT`` characters)."""

    text: str
    t: float | None = None
    seq: int | None = None


@dataclass(frozen=True)
class Reset:
    """Start a fresh session from the player's factory."""


@dataclass(frozen=True)
class ListSaves:
    """Ask for the names of saved sessions."""


@dataclass(frozen=True)
class Save:
    """Save the session as ``name`` (``[A-Za-z0-9_-]{1,64}``)."""

    name: str


@dataclass(frozen=True)
class Load:
    """Replace the session with the one saved as ``name``."""

    name: str


Message = Step | Text | Reset | ListSaves | Save | Load

_FIELDS: dict[str, set[str]] = {
    "step": {"keys", "t", "seq"},
    "text": {"text", "t", "seq"},
    "reset": set(),
    "list": set(),
    "save": {"name"},
    "load": {"name"},
}


def check_name(name: object) -> str:
    """A save name: ``[A-Za-z0-9_-]{1,64}`` only (no dots, slashes or path traversal)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        shown = repr(name)[:80]
        raise ProtocolError(f"bad save name {shown}: use 1-64 letters, digits, '_' or '-'")
    return name


def _seq(obj: dict) -> int | None:
    seq = obj.get("seq")
    if seq is None:
        return None
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**53:
        raise ProtocolError("'seq' must be a non-negative integer")
    return seq


def _t(obj: dict, seq: int | None) -> float | None:
    t = obj.get("t")
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise ProtocolError("'t' must be a finite number (client milliseconds)", seq)
    if isinstance(t, int) and abs(t) > MAX_T_MS:  # before float(): a 400-digit int overflows it
        raise ProtocolError(f"'t' must be within ±{MAX_T_MS:.0e} (client milliseconds)", seq)
    if not math.isfinite(t) or abs(t) > MAX_T_MS:
        raise ProtocolError(f"'t' must be a finite number within ±{MAX_T_MS:.0e} (client milliseconds)", seq)
    return float(t)


def _keys(keys: object, seq: int | None) -> str:
    if not isinstance(keys, str) or len(keys) > 16:
        raise ProtocolError("'keys' must be a short string of held keys, e.g. 'WQ' ('.' for none)", seq)
    if not keys:
        return "."
    try:
        return parse_action(list(keys.upper())).value
    except ValueError as err:
        raise ProtocolError(str(err), seq) from None


def _text(text: object, seq: int | None) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError("'text' must be a non-empty string", seq)
    if len(text) > MAX_TEXT:
        raise ProtocolError(f"text command is {len(text)} characters; the limit is {MAX_TEXT}", seq)
    return text.strip()


def parse_message(raw: str | bytes) -> Message:
    """Parse and validate one client message; raises :class:`ProtocolError` with the reason."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise ProtocolError("malformed message: JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ProtocolError(f"malformed JSON: {err}") from None
    except ValueError as err:  # e.g. an integer longer than Python's 4300-digit limit
        raise ProtocolError(f"malformed message: {str(err)[:120]}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise ProtocolError(f"unknown message type {str(kind)[:40]!r}; valid: {', '.join(_FIELDS)}")
    extra = set(obj) - _FIELDS[kind] - {"type"}
    seq = _seq(obj) if "seq" in _FIELDS[kind] else None
    if extra:
        raise ProtocolError(f"unknown field(s) for {kind!r}: {', '.join(sorted(extra))[:80]}", seq)
    if kind == "step":
        return Step(_keys(obj.get("keys", "."), seq), _t(obj, seq), seq)
    if kind == "text":
        return Text(_text(obj.get("text"), seq), _t(obj, seq), seq)
    if kind == "reset":
        return Reset()
    if kind == "list":
        return ListSaves()
    name = check_name(obj.get("name"))
    return Save(name) if kind == "save" else Load(name)
