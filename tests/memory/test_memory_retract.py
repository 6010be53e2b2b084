"""``PointMemory.mark`` / ``retract``: the memory after a retract is exactly the memory at the mark
(what teacher forcing needs to replace the latest frame's latents by the truth's)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loci.memory import PointMemory, PointMemoryConfig
from loci.memory.latent import LatentMemory


def _frame(seed: int, size=(12, 16), channels=3):
    g = torch.Generator().manual_seed(seed)
    K = torch.tensor([[10.0, 0, 8], [0, 10.0, 6], [0, 0, 1]])
    pose = torch.eye(4)
    pose[:3, 3] = torch.rand(3, generator=g) - 0.5
    return torch.rand(channels, *size, generator=g), 1 + 3 * torch.rand(size, generator=g), K, pose


def _state(m: PointMemory) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.state_dict().items()}


@settings(max_examples=25, deadline=None)
@given(before=st.integers(0, 3), after=st.integers(1, 3), budget=st.sampled_from([100, 400, 250_000]))
def test_retract_restores_the_state_at_the_mark(before, after, budget):
    cfg = PointMemoryConfig(max_points=budget, sky=None, footprints=False)
    m = PointMemory(cfg)
    for i in range(before):
        m.insert(*_frame(i))
    want = _state(m)
    mark = m.mark(after * 12 * 16)
    assert mark[0] == ("copy" if len(m) + after * 192 > budget else "count")
    for i in range(after):
        m.insert(*_frame(100 + i))
    m.retract(mark)
    got = _state(m)
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)


def test_a_memory_with_a_sky_marks_by_copy_and_a_stale_count_mark_is_refused():
    assert PointMemory().mark(1)[0] == "copy"  # the sky memory is not append-only
    m = LatentMemory(3)
    m.insert(*_frame(0))
    mark = m.mark(10)
    assert mark[0] == "count"
    with pytest.raises(RuntimeError, match="cannot retract"):
        m.retract(("count", len(m) + 5, 0))
