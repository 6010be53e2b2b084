"""World presets: the tuned values a world runs with, one typed JSON file per world.

``presets/<name>.json`` (shipped with the package) holds a :class:`WorldPreset`; a session picks
the one named by ``WorldConfig.preset``, or by default the one of the engine its start came from
(``image`` for a start image of unknown origin or an engine without one). How each value was
tuned: docs/tuning.md. ``loci info`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loci.io import config_from_json
from loci.memory import StrengthConfig

from .backends.learned import SamplingPreset

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "image"


@dataclass(frozen=True)
class CollisionBand:
    """The part of the last frame's depth that stops a forward step: ``rows`` and ``cols`` as
    fractions of the height and width; the ``percentile`` of its known depths is the distance ahead."""

    rows: tuple[float, float]
    cols: tuple[float, float]
    percentile: float

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi <= 1:
                raise ValueError(f"CollisionBand.{name} must be 0 <= lo < hi <= 1, got {(lo, hi)}")
        if not 0 <= self.percentile <= 100:
            raise ValueError(f"CollisionBand.percentile must be in [0, 100], got {self.percentile}")


@dataclass(frozen=True)
class WorldPreset:
    """name; description (one line of what it is for); sampling: the learned world's disocclusion
    mix; light_strength: each session scales its light falloff by this times the strength its
    start frame shows (None: the falloff as fitted); strength: how that is measured; collision:
    where the collision check looks."""

    name: str
    description: str
    sampling: SamplingPreset
    light_strength: float | None
    strength: StrengthConfig
    collision: CollisionBand


def preset_names() -> tuple[str, ...]:
    """The shipped presets' names."""
    return tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.json")))


def load_preset(name: str) -> WorldPreset:
    """The shipped preset ``name``, or the preset file at path ``name`` (a ``.json``)."""
    path = Path(name) if name.endswith(".json") else PRESETS_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(
            f"unknown world preset {name!r}; shipped: {', '.join(preset_names())} (or a .json path)"
        )
    return config_from_json(WorldPreset, path)


def preset_for(engine: str | None) -> str:
    """The preset a session in ``engine``'s world runs with by default."""
    return engine if engine in preset_names() else DEFAULT_PRESET
