"""Spatial memories: what a world remembers of the places it has seen, in the global frame."""

from .light import LightFalloff, StrengthConfig, frame_strength, load_light_falloff
from .points import PointMemory, PointMemoryConfig
from .sky import SkyConfig, SkyMemory

__all__ = [
    "LightFalloff",
    "PointMemory",
    "PointMemoryConfig",
    "SkyConfig",
    "SkyMemory",
    "StrengthConfig",
    "frame_strength",
    "load_light_falloff",
]
