"""3D rotary positions: Wan's channel split, scores depending only on relative (frame, row, col)
positions, and the chunk position layouts used for position fixing."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.models.rope import apply_rope, chunk_positions, rope_angles, rope_split

positions = st.tuples(st.integers(-50, 600), st.integers(-40, 40), st.integers(-40, 40))
head_dims = st.sampled_from([8, 12, 16, 64])


def rotate(x: torch.Tensor, pos: tuple[int, int, int], head_dim: int) -> torch.Tensor:
    """Rotate one vector ``x (head_dim,)`` to the 3D position ``(frame, row, col)``."""
    f, r, c = pos
    cos, sin = rope_angles(torch.tensor([float(f)], dtype=torch.float64), 1, 1, head_dim, 10000.0, r, c)
    return apply_rope(x.view(1, 1, 1, head_dim), cos, sin).flatten()


def test_split_matches_wan():
    assert rope_split(128) == (44, 42, 42)  # Wan-2.1 14B/1.3B heads
    assert rope_split(64) == (24, 20, 20)
    for d in (8, 10, 12, 16, 64, 128):
        parts = rope_split(d)
        assert sum(parts) == d and all(p % 2 == 0 for p in parts)
    with pytest.raises(ValueError, match="head_dim"):
        rope_split(6)
    with pytest.raises(ValueError, match="head_dim"):
        rope_split(9)


@given(head_dims, positions, positions, positions, st.integers(0, 2**31 - 1))
def test_scores_depend_only_on_relative_positions(d, pq, pk, shift, seed):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, d, generator=g, dtype=torch.float64)
    moved_q = tuple(a + s for a, s in zip(pq, shift, strict=True))
    moved_k = tuple(a + s for a, s in zip(pk, shift, strict=True))
    score = rotate(q, pq, d) @ rotate(k, pk, d)
    moved = rotate(q, moved_q, d) @ rotate(k, moved_k, d)
    assert abs(float(score - moved)) <= 1e-9 * (1 + float(q.norm() * k.norm()))


@given(head_dims, positions, st.integers(0, 2**31 - 1))
def test_rotation_keeps_norms(d, pos, seed):
    x = torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    torch.testing.assert_close(rotate(x, pos, d).norm(), x.norm(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_each_axis_is_encoded(axis):
    """Negative control: moving the key by one frame, row or column changes the score."""
    d = 16
    x = torch.randn(d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(rotate(x, (0, 0, 0), d), x)
    step = tuple(int(i == axis) for i in range(3))
    assert abs(float(rotate(x, (0, 0, 0), d) @ x - rotate(x, step, d) @ x)) > 1e-3


def test_token_order_is_frame_then_row_then_col():
    cos, sin = rope_angles(torch.tensor([0.0, 1.0]), 2, 3, 8)
    assert cos.shape == (12, 4)
    x = torch.randn(1, 12, 1, 8)
    tokens = apply_rope(x, cos, sin)
    # token index 1·6 + 1·3 + 2 = 11 sits at (frame 1, row 1, col 2)
    one = rope_angles(torch.tensor([1.0]), 1, 1, 8, row_offset=1, col_offset=2)
    torch.testing.assert_close(tokens[:, 11:12], apply_rope(x[:, 11:12], *one))
    with pytest.raises(ValueError, match="do not fit"):
        apply_rope(x[:, :5], cos, sin)


def test_chunk_positions():
    frames = torch.tensor([0, 1, 8, 9])
    ctx, chunk = chunk_positions(frames, start=10, chunk_frames=2, origin=6, layout="relative")
    assert ctx.tolist() == [-4.0, -3.0, 4.0, 5.0] and chunk.tolist() == [6.0, 7.0]
    ctx, chunk = chunk_positions(frames, start=10, chunk_frames=2, origin=6, layout="packed")
    assert ctx.tolist() == [2.0, 3.0, 4.0, 5.0] and chunk.tolist() == [6.0, 7.0]
    # the same relative history at any point of a rollout gets the same positions
    later, _ = chunk_positions(frames + 1000, start=1010, chunk_frames=2, origin=6, layout="relative")
    assert later.tolist() == [-4.0, -3.0, 4.0, 5.0]
    contiguous = torch.tensor([6, 7, 8, 9])
    assert torch.equal(
        chunk_positions(contiguous, 10, 2, 6, "packed")[0],
        chunk_positions(contiguous, 10, 2, 6, "relative")[0],
    )
    with pytest.raises(ValueError, match="layout"):
        chunk_positions(frames, 10, 2, 6, "absolute")
