"""Typed dataclass configs ↔ plain dicts (JSON), with clear errors for unknown or malformed fields."""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(cfg: Any) -> Any:
    """A dataclass (nested ones too) as JSON-ready dicts and lists."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, tuple | list):
        return [config_to_dict(v) for v in cfg]
    return cfg


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, where)
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], where) for v in value)
        return (
            tuple(_convert(v, a, where) for v, a in zip(value, args, strict=False)) if args else tuple(value)
        )
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None) and value is None:
                return None
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return config_from_dict(arg, value, where)
            if typing.get_origin(arg) is tuple and isinstance(value, list | tuple):
                return _convert(value, arg, where)
        return value
    return value


def config_from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data`` (nested dicts for nested dataclasses, lists for tuples).

    Unknown fields raise ``ValueError`` naming them; the dataclass's own validation runs as usual.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} field(s) {sorted(unknown)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"{where}: {err}") from None


def config_from_json(cls: type[T], path: str | os.PathLike) -> T:
    """Read a typed config ``cls`` from a JSON file (errors name the file and the field)."""
    return config_from_dict(cls, json.loads(Path(path).read_text()), str(path))
