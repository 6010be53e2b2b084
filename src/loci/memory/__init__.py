"""Spatial memories: what a world remembers of the places it has seen, in the global frame."""

from .points import PointMemory, PointMemoryConfig

__all__ = ["PointMemory", "PointMemoryConfig"]
