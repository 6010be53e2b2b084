"""Backends: how a world produces the next frame. Chosen by name; none of the callers knows which.

- ``engine``: the real engine steps (ground truth, the benchmark's oracle). Takes keys only.
- ``warp``: renders the point memory at the target pose and fills the holes (the geometry-only
  baseline every learned model must beat).
- ``copy-last``: repeats the last frame at the new pose (the trivial baseline).
- ``loci``: the learned world (tokenizer + causal DiT) conditioned on its spatial memory;
  ``dit``: the same model without the memory condition.

Adding a backend: a module with a :class:`Backend` subclass and its :class:`BackendSpec`, and one
line below.
"""

from . import copy_last, engine, learned, warp
from .base import Backend, BackendContext, BackendSpec, MemoryWrite, Produced, StepRequest
from .copy_last import CopyLastBackend
from .engine import EngineBackend
from .registry import backend_names, backend_spec, register
from .warp import WarpBackend, WarpConfig

for _spec in (warp.SPEC, copy_last.SPEC, engine.SPEC, *learned.SPECS):  # the order of BACKENDS, --help
    register(_spec)

BACKENDS: tuple[str, ...] = backend_names()

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendContext",
    "BackendSpec",
    "CopyLastBackend",
    "EngineBackend",
    "MemoryWrite",
    "Produced",
    "StepRequest",
    "WarpBackend",
    "WarpConfig",
    "backend_names",
    "backend_spec",
    "register",
]
