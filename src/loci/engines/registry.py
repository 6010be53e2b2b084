"""Engines by name. Engine modules import lazily, so loci works without the engines' packages."""

from __future__ import annotations

import importlib
from dataclasses import fields, replace
from typing import Any

from .base import Engine

# name -> (module, engine class, config class)
ENGINES: dict[str, tuple[str, str, str]] = {
    "synthetic": ("loci.engines.synthetic", "SyntheticEngine", "SyntheticConfig"),
    "vizdoom": ("loci.engines.vizdoom", "VizdoomEngine", "VizdoomConfig"),
    "miniworld": ("loci.engines.miniworld", "MiniworldEngine", "MiniworldConfig"),
}


def engine_classes(name: str) -> tuple[type[Engine], type]:
    """``(EngineClass, ConfigClass)`` of engine ``name``; unknown names raise ``ValueError``."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; valid engines: {', '.join(ENGINES)}")
    module, engine, config = ENGINES[name]
    mod = importlib.import_module(module)
    return getattr(mod, engine), getattr(mod, config)


def make_engine(name: str, **overrides: Any) -> Engine:
    """Build engine ``name`` with its default config, overriding the given config fields.

    ``make_engine("vizdoom", size=(120, 160))``. Unknown fields raise ``ValueError``; a missing
    engine package raises :class:`~loci.engines.base.EngineUnavailable`.
    """
    engine_cls, config_cls = engine_classes(name)
    valid = {f.name for f in fields(config_cls)}
    unknown = set(overrides) - valid
    if unknown:
        raise ValueError(f"unknown {name} config field(s) {sorted(unknown)}; valid: {sorted(valid)}")
    return engine_cls(replace(config_cls(), **overrides))


def engine_config_dict(engine: Engine) -> dict[str, Any]:
    """The engine's config as a JSON-ready dict (for episode metadata)."""
    cfg = getattr(engine, "cfg", None)
    if cfg is None:
        return {}

    def plain(v: Any) -> Any:
        if hasattr(v, "__dataclass_fields__"):
            return {f.name: plain(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v

    return plain(cfg)
