"""Doom map geometry read straight from a WAD, and the standing points a ViZDoom episode starts on.

The engine needs each level's sectors (floor, ceiling, boundary lines) to pick random valid start
points and to validate a requested start. ViZDoom can report sectors, but only when that is switched
on before ``init`` and then it rebuilds them on every state (slower steps), so loci reads the
classic Doom-format lumps (``VERTEXES``, ``LINEDEFS``, ``SIDEDEFS``, ``SECTORS``) once per level.
All coordinates here are Doom map units (x east, y north, z up).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAP_NAME = re.compile(r"^(MAP\d\d|E\dM\d)$")
MIN_HEADROOM = 64.0  # ceiling - floor needed to stand (the player is 56 units tall)
START_CLEARANCE = 32.0  # a random start keeps this far from every line (walls, steps, sector edges)
PLAYER_RADIUS = 16.0  # a requested start must keep this far from blocking lines
DAMAGING_SPECIALS = (4, 5, 7, 11, 16)  # Doom sector types that hurt (low 5 bits); Boom bits 0x60
LINE_BLOCKS = 0x0001
NO_SIDE = 0xFFFF


def _lumps(path: Path) -> list[tuple[str, int, int]]:
    """The WAD directory: ``(name, offset, size)`` of every lump."""
    with path.open("rb") as fh:
        kind, count, offset = struct.unpack("<4sii", fh.read(12))
        if kind not in (b"IWAD", b"PWAD"):
            raise ValueError(f"{path} is not a WAD file")
        fh.seek(offset)
        directory = fh.read(16 * count)
    entries = []
    for pos, size, name in struct.iter_unpack("<ii8s", directory):
        entries.append((name.rstrip(b"\0").decode("ascii", "replace"), pos, size))
    return entries


def wad_levels(path: Path) -> tuple[str, ...]:
    """Names of the levels in a WAD (``MAP01`` ... or ``E1M1`` ...), in file order."""
    return tuple(name for name, _, _ in _lumps(path) if MAP_NAME.match(name))


@dataclass(frozen=True, eq=False)
class LevelGeometry:
    """One level's sectors and lines (map units).

    lines: ``(L, 4)`` float64 ``x1, y1, x2, y2``; line_sectors: ``(L, 2)`` sector index of the front
    and back side (``-1`` = none); blocking: ``(L,)`` bool (one-sided or flagged impassable);
    floor, ceiling: ``(S,)`` float64; damaging: ``(S,)`` bool (hurts a player standing there).
    """

    lines: np.ndarray
    line_sectors: np.ndarray
    blocking: np.ndarray
    floor: np.ndarray
    ceiling: np.ndarray
    damaging: np.ndarray

    @classmethod
    def from_wad(cls, path: Path, level: str) -> LevelGeometry:
        entries = _lumps(path)
        names = [e[0] for e in entries]
        if level not in names:
            raise ValueError(f"level {level!r} is not in {path}")
        start = names.index(level)
        lumps = {name: (pos, size) for name, pos, size in entries[start + 1 : start + 11]}

        def table(name: str, fmt: str) -> np.ndarray:
            pos, size = lumps[name]
            rec = struct.calcsize(fmt)
            with path.open("rb") as fh:
                fh.seek(pos)
                data = fh.read(size - size % rec)
            return np.array(list(struct.iter_unpack(fmt, data)))

        verts = table("VERTEXES", "<hh").astype(np.float64)
        # v1, v2, flags, special, tag, front side, back side
        lines = table("LINEDEFS", "<HHHHHHH")
        side_sector = table("SIDEDEFS", "<hh8s8s8sH")[:, -1].astype(np.int64)
        sectors = table("SECTORS", "<hh8s8shhh")
        sides = lines[:, 5:7].astype(np.int64)
        line_sectors = np.where(sides == NO_SIDE, -1, side_sector[np.minimum(sides, len(side_sector) - 1)])
        special = sectors[:, 5].astype(np.int64)
        return cls(
            lines=np.concatenate(
                [verts[lines[:, 0].astype(np.int64)], verts[lines[:, 1].astype(np.int64)]], 1
            ),
            line_sectors=line_sectors,
            blocking=((lines[:, 2].astype(np.int64) & LINE_BLOCKS) > 0) | (line_sectors[:, 1] < 0),
            floor=sectors[:, 0].astype(np.float64),
            ceiling=sectors[:, 1].astype(np.float64),
            damaging=np.isin(special & 31, DAMAGING_SPECIALS) | ((special & 0x60) > 0),
        )

    def sector_at(self, points: np.ndarray) -> np.ndarray:
        """Sector index ``(N,)`` containing each point ``(N, 2)``; ``-1`` where it is in none or several.

        Even-odd rule over each sector's own boundary lines (a line whose two sides face the same
        sector counts twice and cancels, as it should).
        """
        px, py = points[:, :1], points[:, 1:]
        x1, y1, x2, y2 = (self.lines[:, i] for i in range(4))
        spans = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        crossing = (spans & (px < x_cross)).astype(np.int64)  # (N, L)
        counts = np.zeros((len(points), len(self.floor) + 1), np.int64)
        for side in (0, 1):  # column -1 (no sector) collects the missing sides and is dropped
            np.add.at(counts.T, self.line_sectors[:, side], crossing.T)
        inside = counts[:, :-1] % 2 == 1
        return np.where(inside.sum(1) == 1, inside.argmax(1), -1)

    def line_distance(self, points: np.ndarray, only_blocking: bool = False) -> np.ndarray:
        """Distance ``(N,)`` from each point ``(N, 2)`` to the nearest (blocking) line."""
        lines = self.lines[self.blocking] if only_blocking else self.lines
        a, d = lines[:, :2], lines[:, 2:] - lines[:, :2]
        rel = points[:, None, :] - a[None]
        t = np.clip((rel * d).sum(-1) / np.maximum((d**2).sum(-1), 1e-9), 0, 1)
        return np.linalg.norm(rel - t[..., None] * d, axis=-1).min(1)

    def standing_sector(self, points: np.ndarray, clearance: float) -> np.ndarray:
        """Sector index ``(N,)`` where a player can stand at each point, ``-1`` where not.

        Standing needs one sector, ``MIN_HEADROOM`` below the ceiling, a harmless floor, and
        ``clearance`` from every line (from blocking lines only when ``clearance == PLAYER_RADIUS``).
        """
        sector = self.sector_at(points)
        s = np.maximum(sector, 0)
        ok = (sector >= 0) & (self.ceiling[s] - self.floor[s] >= MIN_HEADROOM) & ~self.damaging[s]
        if ok.any():  # the distance test is the costly one: only for points that passed the rest
            only_blocking = clearance <= PLAYER_RADIUS
            ok[ok] = self.line_distance(points[ok], only_blocking) >= clearance
        return np.where(ok, sector, -1)

    def random_starts(self, rng: np.random.Generator, batch: int = 32):
        """Endless stream of ``(x, y, floor)`` random standing points (whole map units), from ``rng``."""
        lo, hi = self.lines[:, :2].min(0), self.lines[:, :2].max(0)
        lo = np.minimum(lo, self.lines[:, 2:].min(0))
        hi = np.maximum(hi, self.lines[:, 2:].max(0))
        while True:
            pts = np.floor(rng.uniform(lo, hi, size=(batch, 2)))
            for p, s in zip(pts, self.standing_sector(pts, START_CLEARANCE), strict=True):
                if s >= 0:
                    yield float(p[0]), float(p[1]), float(self.floor[s])
