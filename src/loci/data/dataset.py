"""A torch ``Dataset`` of windows of N consecutive frames, streamed from memory-mapped episodes."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .episode import Episode, list_episodes


class WindowDataset(Dataset):
    """Windows of ``window`` frames taken every ``stride`` frames, starting every ``step`` frames.

    Item ``i`` is a dict:
        rgb ``(N, 3, H, W)`` float32 in [-1, 1]; depth ``(N, H, W)`` float32 metres (0 = unknown);
        K ``(N, 3, 3)``; poses ``(N, 4, 4)`` camera-to-world, rebased onto the window's first
        frame (loci's global frame) unless ``rebase=False``; actions: list of N strings;
        episode: the episode name; start: the first frame's index.
    ``root`` is one dataset directory or several (e.g. two engines' datasets mixed; windows are drawn
    from all of them, so each contributes in proportion to its frames).
    Only the frames of a window are read from disk; at most ``max_open`` episodes stay mapped.
    """

    def __init__(
        self,
        root: str | os.PathLike | Sequence[str | os.PathLike],
        window: int,
        stride: int = 1,
        step: int | None = None,
        split: str | None = None,
        engines: Sequence[str] | None = None,
        rebase: bool = True,
        max_open: int = 64,
    ):
        if window < 1 or stride < 1:
            raise ValueError("window and stride must be >= 1")
        self.window, self.stride, self.rebase = window, stride, rebase
        self.step = step or window * stride
        self.max_open = max_open
        self.episodes: list[Path] = []
        self.index: list[tuple[int, int]] = []  # (episode number, start frame)
        span = (window - 1) * stride + 1
        roots = [root] if isinstance(root, str | os.PathLike) else list(root)
        if not roots:
            raise ValueError("no dataset directory given")
        for path in (p for r in roots for p in list_episodes(r)):
            ep = Episode(path)
            if split is not None and ep.meta.split != split:
                continue
            if engines is not None and ep.meta.engine not in engines:
                continue
            n = len(self.episodes)
            self.episodes.append(path)
            self.index += [(n, s) for s in range(0, len(ep) - span + 1, self.step)]
        self._open: OrderedDict[int, Episode] = OrderedDict()

    def __len__(self) -> int:
        return len(self.index)

    def _episode(self, n: int) -> Episode:
        if n in self._open:
            self._open.move_to_end(n)
        else:
            self._open[n] = Episode(self.episodes[n])
            if len(self._open) > self.max_open:
                self._open.popitem(last=False)
        return self._open[n]

    def __getitem__(self, i: int) -> dict:
        n, start = self.index[i]
        ep = self._episode(n)
        sl = slice(start, start + (self.window - 1) * self.stride + 1, self.stride)
        rgb = torch.from_numpy(np.array(ep.rgb[sl])).permute(0, 3, 1, 2).float() / 127.5 - 1
        depth = torch.from_numpy(ep.depth[sl].astype(np.float32))
        poses = torch.from_numpy(np.array(ep.poses[sl]))
        if self.rebase:
            poses = torch.linalg.inv(poses[:1].double()).float() @ poses
        actions = ep.actions[sl]
        return {
            "rgb": rgb,
            "depth": depth,
            "K": torch.from_numpy(np.array(ep.K[sl])),
            "poses": poses,
            "actions": actions,
            "episode": ep.meta.name,
            "start": start,
        }

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()  # DataLoader workers map their own episodes
        return state
