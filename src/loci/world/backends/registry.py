"""Backends by name. ``register(spec)`` adds one; ``backend_spec(name)`` finds it, or names the valid ones."""

from __future__ import annotations

from .base import BackendSpec

_SPECS: dict[str, BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Add ``spec`` to the registry (a name registers once)."""
    if spec.name in _SPECS:
        raise ValueError(f"a backend named {spec.name!r} is registered already")
    _SPECS[spec.name] = spec
    return spec


def backend_spec(name: str) -> BackendSpec:
    """The spec registered as ``name``; ``ValueError`` naming the valid ones otherwise."""
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(_SPECS)}") from None


def backend_names() -> tuple[str, ...]:
    """Every registered backend's name, in registration order."""
    return tuple(_SPECS)
