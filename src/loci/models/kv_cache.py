"""An explicit KV cache: per-layer keys/values of finished frames in named slots (InSpatio-World style).

One slot holds one latent frame of every layer: keys and values ``(depth, B, n, heads, head_dim)`` with
``n`` tokens per frame, and the frame index the slot came from. The cache never decides anything by
itself: the caller writes slots (``write``), chooses what the next chunk attends to (``select``) and
drops what it no longer needs (``evict``). Policies are small functions over slot ids ordered oldest
first (:func:`sliding_window`, :func:`sink_and_window`); a memory-pool policy can sit beside them.

Keys are stored after the q/k RMS norm and *before* rotary positions (see ``loci.models.rope``), so a
slot can be given a different temporal position at every step.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import torch

SlotId = Hashable


@dataclass(frozen=True)
class CacheGeometry:
    """Shape of one slot: layers, batch, tokens per frame, heads, channels per head."""

    depth: int
    batch: int
    tokens_per_frame: int
    heads: int
    head_dim: int

    def __post_init__(self) -> None:
        for name in ("depth", "batch", "tokens_per_frame", "heads", "head_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"CacheGeometry.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class CacheContext:
    """What a chunk attends to: keys/values ``(depth, B, S, n, heads, head_dim)`` and frames ``(S,)``."""

    slot_ids: tuple[SlotId, ...]
    keys: torch.Tensor
    values: torch.Tensor
    frames: torch.Tensor

    def __len__(self) -> int:
        return len(self.slot_ids)


class KVCache:
    """Fixed-capacity slot storage; ``capacity`` frames, preallocated in ``dtype`` on ``device``."""

    def __init__(
        self,
        geometry: CacheGeometry,
        capacity: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"cache capacity must be >= 1 frame, got {capacity}")
        self.geometry, self.capacity = geometry, capacity
        g = geometry
        # slot-major storage: a write or a gather moves whole contiguous slots
        shape = (capacity, g.depth, g.batch, g.tokens_per_frame, g.heads, g.head_dim)
        self._k = torch.zeros(shape, dtype=dtype, device=device)
        self._v = torch.zeros(shape, dtype=dtype, device=device)
        self._row: dict[SlotId, int] = {}
        self._frame: dict[SlotId, int] = {}
        self._order: dict[SlotId, int] = {}  # write counter: ties in frame order go to the older write
        self._writes = 0

    @property
    def dtype(self) -> torch.dtype:
        return self._k.dtype

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, slot_id: object) -> bool:
        return slot_id in self._row

    @property
    def slots(self) -> tuple[SlotId, ...]:
        """Stored slot ids, oldest frame first (ties: earlier write first)."""
        return tuple(sorted(self._row, key=lambda s: (self._frame[s], self._order[s])))

    def frame(self, slot_id: SlotId) -> int:
        """The frame index slot ``slot_id`` was written with."""
        self._check_known([slot_id])
        return self._frame[slot_id]

    def write(
        self, slot_ids: Sequence[SlotId], frames: Sequence[int], keys: torch.Tensor, values: torch.Tensor
    ) -> None:
        """Store frames ``keys/values (depth, B, S, n, heads, head_dim)`` in slots; an existing id is replaced."""
        slot_ids, frames = list(slot_ids), [int(f) for f in frames]
        S = len(slot_ids)
        if len(set(slot_ids)) != S:
            raise ValueError(f"duplicate slot ids in write: {slot_ids}")
        if len(frames) != S:
            raise ValueError(f"write got {S} slot ids but {len(frames)} frames")
        g = self.geometry
        want = (g.depth, g.batch, S, g.tokens_per_frame, g.heads, g.head_dim)
        for name, t in (("keys", keys), ("values", values)):
            if tuple(t.shape) != want:
                raise ValueError(
                    f"{name} must have shape {want} (depth, B, S, n, heads, head_dim), got {tuple(t.shape)}"
                )
        new = [s for s in slot_ids if s not in self._row]
        if len(self._row) + len(new) > self.capacity:
            raise ValueError(
                f"cache full: {len(self._row)} of {self.capacity} slots used, {len(new)} new; evict first"
            )
        used = set(self._row.values())
        free = iter(r for r in range(self.capacity) if r not in used)
        for s, f in zip(slot_ids, frames, strict=True):
            if s not in self._row:
                self._row[s] = next(free)
            self._frame[s] = f
            self._order[s] = self._writes
            self._writes += 1
        rows = torch.tensor([self._row[s] for s in slot_ids], device=self._k.device)
        self._k.index_copy_(0, rows, keys.to(self._k.dtype).movedim(2, 0))
        self._v.index_copy_(0, rows, values.to(self._v.dtype).movedim(2, 0))

    def select(self, slot_ids: Sequence[SlotId]) -> CacheContext:
        """Gather slots, in the order given (oldest first for the ``"packed"`` layout), for attention."""
        slot_ids = tuple(slot_ids)
        if len(set(slot_ids)) != len(slot_ids):
            raise ValueError(f"duplicate slot ids in select: {list(slot_ids)}")
        self._check_known(slot_ids)
        rows = torch.tensor([self._row[s] for s in slot_ids], dtype=torch.long, device=self._k.device)
        frames = torch.tensor([self._frame[s] for s in slot_ids], dtype=torch.long, device=self._k.device)
        keys = self._k.index_select(0, rows).movedim(0, 2)  # (depth, B, S, n, heads, head_dim) view
        return CacheContext(slot_ids, keys, self._v.index_select(0, rows).movedim(0, 2), frames)

    def evict(self, slot_ids: Iterable[SlotId]) -> None:
        """Free slots; their storage rows are reused by later writes."""
        slot_ids = list(slot_ids)
        self._check_known(slot_ids)
        for s in slot_ids:
            del self._row[s], self._frame[s], self._order[s]

    def clear(self) -> None:
        self.evict(list(self._row))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The stored slots (integer slot ids only), oldest first: ``slots (S,)``, ``frames (S,)`` int64 and
        ``keys``/``values (depth, B, S, n, heads, head_dim)``; safetensors-ready."""
        slots = self.slots
        if any(not isinstance(s, int) for s in slots):
            raise ValueError("only caches with integer slot ids can be saved")
        ctx = self.select(slots)
        return {
            "slots": torch.tensor(slots, dtype=torch.long),
            "frames": ctx.frames.cpu(),
            "keys": ctx.keys.contiguous().cpu(),
            "values": ctx.values.contiguous().cpu(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the contents by a :meth:`state_dict` (shapes are checked against this cache)."""
        missing = {"slots", "frames", "keys", "values"} - set(state)
        if missing:
            raise ValueError(f"KV-cache state lacks {sorted(missing)}")
        slots, frames = state["slots"].tolist(), state["frames"].tolist()
        self.clear()
        if slots:
            self.write(slots, frames, state["keys"], state["values"])

    def _check_known(self, slot_ids: Iterable[SlotId]) -> None:
        unknown = [s for s in slot_ids if s not in self._row]
        if unknown:
            raise ValueError(f"slot(s) {unknown} not in the cache (stored: {list(self.slots)})")


def sliding_window(slots: Sequence[SlotId], window: int) -> list[SlotId]:
    """The newest ``window`` slots of ``slots`` (ordered oldest first), oldest first."""
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    return list(slots[max(0, len(slots) - window) :]) if window else []


def sink_and_window(slots: Sequence[SlotId], sink: int, window: int) -> list[SlotId]:
    """The oldest ``sink`` slots (attention sink / reference anchor) and the newest ``window``, no repeats."""
    if sink < 0:
        raise ValueError(f"sink must be >= 0, got {sink}")
    head = list(slots[:sink])
    tail = [s for s in sliding_window(slots, window) if s not in set(head)]
    return head + tail


def evict_except(cache: KVCache, keep: Iterable[SlotId]) -> list[SlotId]:
    """Evict every stored slot not in ``keep``; returns the evicted ids (oldest first)."""
    keep = set(keep)
    gone = [s for s in cache.slots if s not in keep]
    cache.evict(gone)
    return gone
