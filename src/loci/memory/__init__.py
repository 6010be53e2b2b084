"""Spatial memories: what a world remembers of the places it has seen, in the global frame."""

from .points import PointMemory, PointMemoryConfig
from .sky import SkyConfig, SkyMemory

__all__ = ["PointMemory", "PointMemoryConfig", "SkyConfig", "SkyMemory"]
