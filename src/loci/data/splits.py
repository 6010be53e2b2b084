"""Fixed train/test splits. Never train on the test split.

- ViZDoom: freedoom2.wad MAP01–MAP24 train, MAP25–MAP32 test (validation and test).
- MiniWorld: by environment *and* seed. Held-out environments are test for every seed; on the
  training environments, seeds >= ``MINIWORLD_TEST_SEED`` are test.
- Synthetic room: seeds >= ``SYNTHETIC_TEST_SEED`` are test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

VIZDOOM_TRAIN = tuple(f"MAP{i:02d}" for i in range(1, 25))
VIZDOOM_TEST = tuple(f"MAP{i:02d}" for i in range(25, 33))
MINIWORLD_TEST_LEVELS = ("FourRooms", "MazeS3", "YMazeLeft", "YMazeRight")
MINIWORLD_TEST_SEED = 1_000_000
SYNTHETIC_TEST_SEED = 1_000_000


def split_of(engine: str, level: str, seed: int) -> str:
    """``"train"`` or ``"test"`` for an episode of ``engine``/``level``/``seed``."""
    if engine == "vizdoom":
        return "test" if level in VIZDOOM_TEST else "train"
    if engine == "miniworld":
        return "test" if level in MINIWORLD_TEST_LEVELS or seed >= MINIWORLD_TEST_SEED else "train"
    if engine == "synthetic":
        return "test" if seed >= SYNTHETIC_TEST_SEED else "train"
    raise ValueError(f"no split is defined for engine {engine!r}")


def parse_levels(spec: str, valid: Sequence[str]) -> list[str]:
    """Expand ``"MAP01-MAP24,MAP30"`` (ranges of names that end in numbers, and plain names).

    Every resulting name must be in ``valid``; an unknown one raises ``ValueError`` naming it.
    """
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        m = re.fullmatch(r"([A-Za-z_]*)(\d+)-([A-Za-z_]*)(\d+)", part)
        if m and m.group(1) == m.group(3):
            width = len(m.group(2))
            lo, hi = int(m.group(2)), int(m.group(4))
            if lo > hi:
                raise ValueError(f"empty level range {part!r}")
            names = [f"{m.group(1)}{i:0{width}d}" for i in range(lo, hi + 1)]
        else:
            names = [part]
        for name in names:
            if name not in valid:
                shown = ", ".join(list(valid)[:8]) + (" ..." if len(valid) > 8 else "")
                raise ValueError(f"unknown level {name!r}; valid levels: {shown}")
            out.append(name)
    if not out:
        raise ValueError(f"no levels in {spec!r}")
    return out
