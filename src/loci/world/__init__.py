"""The one API every user of loci goes through: ``World`` makes ``Session``s; ``session.step(action) -> Frame``.

The player, the CLI, the benchmark, the gymnasium env and the tests all call it; none of them
knows which backend is behind it. Saving and loading: ``save_session`` / ``load_session``.
"""

from loci.memory import PointMemoryConfig, SkyConfig

from .actions import ParsedAction, parse_action
from .backends import BACKENDS, Backend, BackendSpec, WarpConfig, backend_spec
from .backends.learned import DitConfig
from .frame import Frame
from .persist import load_session, save_session
from .preset import WorldPreset, load_preset, preset_names
from .session import Session
from .world import World, WorldConfig

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendSpec",
    "DitConfig",
    "Frame",
    "ParsedAction",
    "PointMemoryConfig",
    "Session",
    "SkyConfig",
    "WarpConfig",
    "World",
    "WorldConfig",
    "WorldPreset",
    "backend_spec",
    "load_preset",
    "load_session",
    "parse_action",
    "preset_names",
    "save_session",
]
