"""The one API every user of loci goes through: ``World`` makes ``Session``s; ``session.step(action) -> Frame``.

The player, the CLI, the benchmark, the gymnasium env and the tests all call it; none of them
knows which backend is behind it.
"""

from loci.memory import PointMemoryConfig, SkyConfig

from .actions import ParsedAction, parse_action
from .backends import BACKENDS, Backend, CopyLastBackend, EngineBackend, WarpBackend, WarpConfig
from .frame import Frame
from .session import Session
from .world import World, WorldConfig

__all__ = [
    "BACKENDS",
    "Backend",
    "CopyLastBackend",
    "EngineBackend",
    "Frame",
    "ParsedAction",
    "PointMemoryConfig",
    "Session",
    "SkyConfig",
    "WarpBackend",
    "WarpConfig",
    "World",
    "WorldConfig",
    "parse_action",
]
