"""KV cache: write/select/evict semantics, capacity, errors, and the sliding-window / sink policies."""

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from loci.models.kv_cache import CacheGeometry, KVCache, evict_except, sink_and_window, sliding_window

GEOM = CacheGeometry(depth=2, batch=1, tokens_per_frame=3, heads=2, head_dim=4)


def frames_kv(values: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """K/V for ``len(values)`` frames, frame i filled with values[i] (keys) and -values[i] (values)."""
    g = GEOM
    k = torch.tensor(values, dtype=torch.float64).view(1, 1, -1, 1, 1, 1)
    k = k.expand(g.depth, g.batch, len(values), g.tokens_per_frame, g.heads, g.head_dim).clone()
    return k, -k


def new_cache(capacity: int = 4) -> KVCache:
    return KVCache(GEOM, capacity, dtype=torch.float64)


def stored(ctx) -> list[float]:
    return [float(v) for v in ctx.keys[0, 0, :, 0, 0, 0]]


def test_write_then_select_returns_the_frames_in_the_order_asked():
    cache = new_cache()
    cache.write([10, 11, 12], [5, 6, 7], *frames_kv([1.0, 2.0, 3.0]))
    ctx = cache.select([12, 10])
    assert stored(ctx) == [3.0, 1.0]
    assert torch.equal(ctx.values, -ctx.keys)
    assert ctx.frames.tolist() == [7, 5] and ctx.slot_ids == (12, 10) and len(ctx) == 2
    assert ctx.keys.shape == (2, 1, 2, 3, 2, 4)
    assert cache.slots == (10, 11, 12) and len(cache) == 3 and 11 in cache and cache.frame(11) == 6


def test_slots_are_ordered_by_frame_then_write_order():
    cache = new_cache()
    cache.write(["b"], [4], *frames_kv([1.0]))
    cache.write(["ref", "a"], [0, 4], *frames_kv([2.0, 3.0]))
    assert cache.slots == ("ref", "b", "a")


def test_overwrite_replaces_content_without_using_capacity():
    cache = new_cache(capacity=2)
    cache.write([0, 1], [0, 1], *frames_kv([1.0, 2.0]))
    cache.write([1], [9], *frames_kv([5.0]))
    assert stored(cache.select([0, 1])) == [1.0, 5.0] and cache.frame(1) == 9 and len(cache) == 2


def test_evict_frees_slots_for_reuse():
    cache = new_cache(capacity=2)
    cache.write([0, 1], [0, 1], *frames_kv([1.0, 2.0]))
    with pytest.raises(ValueError, match="cache full"):
        cache.write([2], [2], *frames_kv([3.0]))
    cache.evict([0])
    assert 0 not in cache and cache.slots == (1,)
    with pytest.raises(ValueError, match=r"not in the cache"):
        cache.select([0])
    cache.write([2], [2], *frames_kv([3.0]))
    assert stored(cache.select([1, 2])) == [2.0, 3.0]
    cache.clear()
    assert len(cache) == 0


def test_select_nothing_is_an_empty_context():
    cache = new_cache()
    ctx = cache.select([])
    assert len(ctx) == 0 and ctx.keys.shape[2] == 0 and ctx.frames.shape == (0,)


def test_bad_writes_and_selects_raise():
    cache = new_cache()
    k, v = frames_kv([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        cache.write([0, 1], [0, 1], k[:, :, :, :2], v[:, :, :, :2])
    with pytest.raises(ValueError, match="2 slot ids but 1 frames"):
        cache.write([0, 1], [0], k, v)
    with pytest.raises(ValueError, match="duplicate"):
        cache.write([0, 0], [0, 1], k, v)
    cache.write([0, 1], [0, 1], k, v)
    with pytest.raises(ValueError, match="duplicate"):
        cache.select([0, 0])
    with pytest.raises(ValueError, match="not in the cache"):
        cache.evict([7])
    with pytest.raises(ValueError, match="capacity"):
        KVCache(GEOM, 0)
    with pytest.raises(ValueError, match="tokens_per_frame"):
        CacheGeometry(1, 1, 0, 1, 8)


def test_policies_by_example():
    slots = list(range(10))
    assert sliding_window(slots, 3) == [7, 8, 9]
    assert sliding_window(slots, 0) == []
    assert sliding_window(slots[:2], 5) == [0, 1]
    assert sliding_window(slots[:5], 8) == [0, 1, 2, 3, 4]  # window/2 < n < window: every slot
    assert sliding_window(slots[:7], 8) == list(range(7))
    assert sink_and_window(slots, 2, 3) == [0, 1, 7, 8, 9]
    assert sink_and_window(slots[:4], 2, 3) == [0, 1, 2, 3]  # overlap counted once
    assert sink_and_window(slots, 0, 2) == [8, 9]
    with pytest.raises(ValueError):
        sliding_window(slots, -1)
    with pytest.raises(ValueError):
        sink_and_window(slots, -1, 2)


@given(st.integers(0, 30), st.integers(0, 12))
@example(5, 8)  # window/2 < n < window: the old slicing slots[n - window:] kept 3 of these 5
@example(7, 8)
@example(3, 4)
@example(8, 8)
@example(9, 8)
@example(0, 8)
@example(4, 0)
def test_sliding_window_properties(n, window):
    """The newest min(n, window) slots, oldest first: slot i is kept exactly when i >= n - window."""
    slots = [f"s{i}" for i in range(n)]
    chosen = sliding_window(slots, window)
    assert chosen == [s for i, s in enumerate(slots) if i >= n - window]
    assert len(chosen) == min(n, window)


@given(st.integers(0, 30), st.integers(0, 6), st.integers(0, 8))
@example(5, 0, 8)  # the sliding window's edge case under a sink
@example(6, 2, 8)
@example(3, 1, 4)
def test_sink_and_window_properties(n, sink, window):
    slots = [f"s{i}" for i in range(n)]
    chosen = sink_and_window(slots, sink, window)
    assert len(chosen) == len(set(chosen)) == min(n, sink + window)
    assert chosen == [s for s in slots if s in set(chosen)]  # a subsequence, oldest first
    assert chosen[: min(sink, n)] == slots[:sink]
    if window:
        assert chosen[-1] == slots[-1] if n else chosen == []


def test_policy_driven_rollout_keeps_sink_and_window():
    """Write a chunk, then evict all but sink + window: the cache never outgrows its capacity."""
    F, sink, window = 2, 2, 4
    cache = new_cache(capacity=sink + window + F)
    for start in range(0, 60, F):
        ids = list(range(start, start + F))
        cache.write(ids, ids, *frames_kv([float(i) for i in ids]))
        evict_except(cache, sink_and_window(cache.slots, sink, window))
        assert len(cache) <= sink + window
    assert cache.slots == (0, 1, 56, 57, 58, 59)
    assert stored(cache.select(cache.slots)) == [0.0, 1.0, 56.0, 57.0, 58.0, 59.0]
