"""Engines: real games and simulators that give ground-truth observations in loci's conventions.

``make_engine("vizdoom" | "miniworld" | "synthetic", **config)`` builds one; every engine has
``reset(level, seed, start_pose=None) -> Observation`` and ``step(keys) -> Observation``. The
engines' own packages import only when an engine is built.
"""

from .base import Engine, EngineUnavailable, EpisodeEnded
from .camera_check import WarpCheck, warp_psnr
from .explore import POLICIES, ExploreConfig, Policy, make_policy
from .observation import Observation
from .registry import ENGINES, engine_classes, engine_config_dict, make_engine

__all__ = [
    "ENGINES",
    "POLICIES",
    "Engine",
    "EngineUnavailable",
    "EpisodeEnded",
    "ExploreConfig",
    "Observation",
    "Policy",
    "WarpCheck",
    "engine_classes",
    "engine_config_dict",
    "make_engine",
    "make_policy",
    "warp_psnr",
]
