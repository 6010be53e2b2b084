"""A causal flow-matching DiT over latent patches (Wan-2.1 blocks) with an explicit KV cache.

Frames are generated in chunks of ``F = chunk_frames`` latent frames. A chunk attends to itself
(bidirectionally) and to earlier frames only. Two ways to run the same network:

- ``forward(x (B, T, C, h, w), t (B, T), cond)``: the whole sequence at once with a block-causal mask
  (training; per-frame flow times, so history frames may carry noise: diffusion forcing).
- ``step(chunk, t, cache, attend_slots, start, cond)``: one chunk's velocity, attending to the chosen
  cache slots; ``commit(clean_chunk, cache, slot_ids, attend_slots, start, cond)`` runs the clean
  chunk (``t = 0`` by default) through the network and writes its per-layer K/V (Self-Forcing/CausVid).

With ``layout="relative"`` the two agree to float precision (``tests/models/test_dit.py``). Rotary
positions are fixed relative to the current chunk; see ``loci.models.rope`` for the ``"packed"`` layout.

Flow convention (Wan/SD3 rectified flow): ``x_t = (1 - t)·x0 + t·noise``, ``t ∈ [0, 1]`` (1 = noise);
the network predicts the velocity ``noise - x0``.

Wan-2.1 names at the root: ``patch_embedding`` (Conv3d, kernel ``(1, p, p)``), ``time_embedding``,
``time_projection``, ``blocks.i.*`` (``loci.models.blocks``), ``head.*``. Wan's ``text_embedding`` and
cross-attention have no counterpart; ``action_embedding``, ``camera_adapter`` and ``camera_null`` are new.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .adapters import ActionEmbedding, Conditions, PluckerAdapter, sinusoidal_embedding
from .blocks import AttentionContext, DiTBlock, Head, Rotary, block_causal_mask, teacher_forcing_mask
from .kv_cache import CacheGeometry, KVCache, SlotId
from .memory_skip import MemorySkip
from .rope import PositionLayout, chunk_positions, rope_angles, rope_split


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of the causal DiT; the default is ~16M parameters.

    latent_channels: channels of the tokenizer's latents (must match it).
    cond_channels: memory-condition channels concatenated on the latents (warped latent + depth +
    validity mask by default: 16 + 1 + 1); zeros when not given.
    patch_size: spatial patch of the latents (latent sizes not divisible by it are zero-padded).
    chunk_frames: latent frames generated per chunk (F). max_history: most cache frames a chunk may
    attend to; the current chunk's rotary positions start at ``max_history``.
    num_actions: discrete action vocabulary (loci keys: 3⁴ = 81 W/S·A/D·Q/E·R/F combinations); one more
    id is the null action. memory_skip: hidden channels of the full-resolution memory skip head
    (:class:`~loci.models.memory_skip.MemorySkip`: a learned per-pixel gate to the memory's latents
    and a refining residual); 0 = none (the shipped world model).
    """

    latent_channels: int = 16
    cond_channels: int = 18
    patch_size: int = 2
    width: int = 384
    depth: int = 8
    heads: int = 6
    mlp_ratio: float = 4.0
    chunk_frames: int = 2
    max_history: int = 10
    num_actions: int = 81
    freq_dim: int = 256
    camera_hidden: int = 128
    camera_blocks: int = 1
    rope_theta: float = 10000.0
    eps: float = 1e-6
    memory_skip: int = 0

    def __post_init__(self) -> None:
        for name in ("latent_channels", "patch_size", "width", "depth", "heads", "chunk_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"DiTConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.memory_skip and self.cond_channels != self.latent_channels + 2:
            raise ValueError(
                f"DiTConfig.memory_skip needs the memory condition (cond_channels = latent_channels + 2 = "
                f"{self.latent_channels + 2}), got cond_channels={self.cond_channels}"
            )
        for name in ("cond_channels", "max_history", "num_actions", "camera_blocks", "memory_skip"):
            if getattr(self, name) < 0:
                raise ValueError(f"DiTConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ValueError(f"DiTConfig.width {self.width} must be divisible by heads {self.heads}")
        rope_split(self.width // self.heads)  # raises for an unusable head size
        if self.freq_dim % 2 or self.freq_dim < 2:
            raise ValueError(f"DiTConfig.freq_dim must be even and >= 2, got {self.freq_dim}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"DiTConfig.mlp_ratio must be > 0, got {self.mlp_ratio}")

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def token_grid(self, latent_size: tuple[int, int]) -> tuple[int, int]:
        """Tokens per frame as ``(rows, cols)`` for a latent ``(h, w)`` (padded up to the patch)."""
        h, w = latent_size
        return -(-h // self.patch_size), -(-w // self.patch_size)


class CausalDiT(nn.Module):
    """Causal flow-matching transformer over latent frames ``(B, T, C, h, w)``; see the module docstring."""

    def __init__(self, config: DiTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DiTConfig()
        d, p = cfg.width, cfg.patch_size
        self.patch_embedding = nn.Conv3d(cfg.latent_channels + cfg.cond_channels, d, (1, p, p), (1, p, p))
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.action_embedding = ActionEmbedding(cfg.num_actions, d)
        self.camera_adapter = PluckerAdapter(p, cfg.camera_hidden, d, cfg.camera_blocks)
        self.camera_null = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(DiTBlock(d, cfg.heads, cfg.mlp_ratio, cfg.eps) for _ in range(cfg.depth))
        self.head = Head(d, cfg.latent_channels, p, cfg.eps)
        nn.init.zeros_(self.head.head.weight)  # Wan: the head starts at zero velocity
        nn.init.zeros_(self.head.head.bias)
        self.memory_skip = MemorySkip(cfg.latent_channels, cfg.memory_skip) if cfg.memory_skip else None

    # ---------------------------------------------------------------- public API

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        cond: Conditions | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity ``(B, T, C, h, w)`` of a whole sequence under the block-causal mask.

        x: ``(B, T, latent_channels, h, w)``, T a multiple of ``chunk_frames``. t: ``(B, T)`` flow time
        per frame. positions: ``(T,)`` temporal rotary positions (default ``0..T-1``).
        """
        cfg = self.config
        _, T, h, w = self._check_latents(x, t, cond)
        if T % cfg.chunk_frames:
            raise ValueError(f"sequence of {T} frames is not a multiple of chunk_frames={cfg.chunk_frames}")
        if positions is None:
            positions = torch.arange(T, dtype=x.dtype, device=x.device)
        elif positions.shape != (T,):
            raise ValueError(f"positions must have shape (T,) = {(T,)}, got {tuple(positions.shape)}")
        tokens, e, e0 = self._embed(x, t, cond or Conditions())
        rows, cols = cfg.token_grid((h, w))
        rotary = Rotary(*rope_angles(positions.to(x.dtype), rows, cols, cfg.head_dim, cfg.rope_theta))
        mask = block_causal_mask(T, cfg.chunk_frames, rows * cols, x.device)
        for block in self.blocks:
            tokens, _, _ = block(tokens, e0, rotary, mask=mask)
        return self._output(tokens, e, x, t, cond, (h, w))

    def teacher_forced(
        self,
        clean: torch.Tensor,
        noisy: torch.Tensor,
        targets: list[int] | tuple[int, ...],
        t_noisy: torch.Tensor,
        cond_clean: Conditions | None = None,
        cond_noisy: Conditions | None = None,
        t_clean: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity ``(B, N, C, h, w)`` of noisy copies of frames ``targets`` given clean frames (training).

        clean: ``(B, T, C, h, w)``, the history as the cache would hold it (flow time ``t_clean``,
        default 0; conditions ``cond_clean``, typically without memory). noisy: ``(B, N, C, h, w)``,
        frame ``targets[i]`` at flow time ``t_noisy[:, i]`` with ``cond_noisy`` (memory included). Every
        target's whole chunk must be among the targets. One pass over ``T + N`` frames equals, per chunk,
        ``commit`` of the clean frames and ``step`` of the noisy chunk on that cache.
        """
        cfg = self.config
        B, T, h, w = self._check_latents(
            clean, clean.new_zeros(clean.shape[:2]) if t_clean is None else t_clean, cond_clean
        )
        N = noisy.shape[1]
        self._check_latents(noisy, t_noisy, cond_noisy)
        targets = list(targets)
        if len(targets) != N or any(not 0 <= i < T for i in targets):
            raise ValueError(f"targets must name {N} frames of the {T} clean ones, got {targets}")
        chunks = {i // cfg.chunk_frames for i in targets}
        if sorted(targets) != sorted(
            i for c in chunks for i in range(c * cfg.chunk_frames, (c + 1) * cfg.chunk_frames)
        ):
            raise ValueError(f"targets {targets} must cover whole chunks of {cfg.chunk_frames} frames")
        if t_clean is None:
            t_clean = clean.new_zeros(B, T)
        tok_c, _, e0_c = self._embed(clean, t_clean, cond_clean or Conditions())
        tok_n, e_n, e0_n = self._embed(noisy, t_noisy, cond_noisy or Conditions())
        tokens, e0 = torch.cat([tok_c, tok_n], 1), torch.cat([e0_c, e0_n], 1)
        rows, cols = cfg.token_grid((h, w))
        positions = torch.cat([torch.arange(T), torch.as_tensor(targets)]).to(clean)
        rotary = Rotary(*rope_angles(positions, rows, cols, cfg.head_dim, cfg.rope_theta))
        mask = teacher_forcing_mask(T, targets, cfg.chunk_frames, rows * cols, clean.device)
        for block in self.blocks:
            tokens, _, _ = block(tokens, e0, rotary, mask=mask)
        return self._output(tokens[:, T:], e_n, noisy, t_noisy, cond_noisy, (h, w))

    def step(
        self,
        chunk: torch.Tensor,
        t: torch.Tensor,
        cache: KVCache,
        attend_slots: list[SlotId] | tuple[SlotId, ...],
        start: int,
        cond: Conditions | None = None,
        layout: PositionLayout = "relative",
    ) -> torch.Tensor:
        """Velocity ``(B, F, C, h, w)`` of one chunk starting at frame ``start``, attending to ``attend_slots``.

        chunk: ``(B, F, latent_channels, h, w)`` with ``F = chunk_frames``; t: ``(B, F)``. The cache is
        only read. ``attend_slots`` are given oldest first (it matters for ``layout="packed"``).
        """
        out, _ = self._chunk_forward(chunk, t, cache, attend_slots, start, cond, layout, need_output=True)
        return out

    @torch.no_grad()
    def commit(
        self,
        clean_chunk: torch.Tensor,
        cache: KVCache,
        slot_ids: list[SlotId] | tuple[SlotId, ...],
        attend_slots: list[SlotId] | tuple[SlotId, ...],
        start: int,
        cond: Conditions | None = None,
        t: torch.Tensor | None = None,
        layout: PositionLayout = "relative",
    ) -> None:
        """Run a finished chunk (flow time ``t``, default 0) and write its K/V to ``slot_ids`` (one per frame).

        The chunk attends to ``attend_slots`` exactly as in :meth:`step`; slot ``slot_ids[i]`` records frame
        ``start + i``. Pass ``cond`` without memory to cache pure image information (InSpatio-World).
        """
        B, F_ = clean_chunk.shape[:2]
        if len(slot_ids) != F_:
            raise ValueError(f"commit needs one slot id per frame: {F_} frames, {len(slot_ids)} slot ids")
        if t is None:
            t = clean_chunk.new_zeros(B, F_)
        _, (keys, values) = self._chunk_forward(
            clean_chunk, t, cache, attend_slots, start, cond, layout, need_output=False
        )
        cache.write(list(slot_ids), [start + i for i in range(F_)], keys, values)

    def new_cache(self, batch: int, latent_size: tuple[int, int], capacity: int | None = None) -> KVCache:
        """An empty cache for this model's layers, ``capacity`` frames (default ``max_history + F``)."""
        cfg = self.config
        rows, cols = cfg.token_grid(latent_size)
        geometry = CacheGeometry(cfg.depth, batch, rows * cols, cfg.heads, cfg.head_dim)
        param = self.head.head.weight
        capacity = cfg.max_history + cfg.chunk_frames if capacity is None else capacity
        return KVCache(geometry, capacity, dtype=param.dtype, device=param.device)

    # ---------------------------------------------------------------- internals

    def _chunk_forward(self, x, t, cache, attend_slots, start, cond, layout, need_output):
        cfg = self.config
        B, F_, h, w = self._check_latents(x, t, cond)
        if F_ != cfg.chunk_frames:
            raise ValueError(f"chunk has {F_} frames, but chunk_frames={cfg.chunk_frames}")
        if len(attend_slots) > cfg.max_history:
            raise ValueError(f"{len(attend_slots)} attended slots exceed max_history={cfg.max_history}")
        rows, cols = cfg.token_grid((h, w))
        g = cache.geometry
        if (g.depth, g.batch, g.tokens_per_frame) != (cfg.depth, B, rows * cols):
            raise ValueError(
                f"cache holds (depth, batch, tokens per frame) = {(g.depth, g.batch, g.tokens_per_frame)}, "
                f"this chunk needs {(cfg.depth, B, rows * cols)}"
            )
        ctx = cache.select(attend_slots)
        tokens, e, e0 = self._embed(x, t, cond or Conditions())
        ctx_pos, chunk_pos = chunk_positions(ctx.frames, start, F_, cfg.max_history, layout, x.dtype)
        rotary = Rotary(*rope_angles(chunk_pos, rows, cols, cfg.head_dim, cfg.rope_theta))
        ctx_rotary = Rotary(*rope_angles(ctx_pos, rows, cols, cfg.head_dim, cfg.rope_theta))
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            context = None
            if len(ctx):
                context = AttentionContext(ctx.keys[i].flatten(1, 2), ctx.values[i].flatten(1, 2), ctx_rotary)
            if not need_output and i == len(self.blocks) - 1:
                k, v = block.keys_values(tokens, e0)  # the last block's output is not needed
            else:
                tokens, k, v = block(tokens, e0, rotary, context=context)
            keys.append(k.unflatten(1, (F_, rows * cols)))
            values.append(v.unflatten(1, (F_, rows * cols)))
        out = self._output(tokens, e, x, t, cond, (h, w)) if need_output else None
        return out, (torch.stack(keys), torch.stack(values))

    def _embed(self, x: torch.Tensor, t: torch.Tensor, cond: Conditions):
        """Tokens ``(B, T, n, d)``, time(+action) embedding ``e (B, T, d)`` and its projection ``(B, T, 6, d)``."""
        cfg = self.config
        B, T, _, h, w = x.shape
        memory = cond.memory if cond.memory is not None else x.new_zeros(B, T, cfg.cond_channels, h, w)
        rows, cols = cfg.token_grid((h, w))
        pad = (0, cols * cfg.patch_size - w, 0, rows * cfg.patch_size - h)
        inp = F.pad(torch.cat([x, memory.to(x.dtype)], dim=2), pad)
        tokens = (
            self.patch_embedding(inp.transpose(1, 2)).permute(0, 2, 3, 4, 1).reshape(B, T, rows * cols, -1)
        )
        if cond.plucker is not None:
            rays = F.pad(cond.plucker.to(x.dtype).flatten(0, 1), pad)
            camera = self.camera_adapter(rays).flatten(2).transpose(1, 2).unflatten(0, (B, T))
            if cond.drop_camera is not None:
                camera = torch.where(cond.drop_camera[:, None, None, None], self.camera_null, camera)
            tokens = tokens + camera
        else:
            tokens = tokens + self.camera_null
        action = (
            cond.action if cond.action is not None else t.new_full((B, T), cfg.num_actions, dtype=torch.long)
        )
        e = self.time_embedding(sinusoidal_embedding(t, cfg.freq_dim).to(x.dtype))
        e = e + self.action_embedding(action, cond.drop_action)
        return tokens, e, self.time_projection(e).unflatten(-1, (6, cfg.width))

    def _output(self, tokens, e, x, t, cond: Conditions | None, latent_size: tuple[int, int]) -> torch.Tensor:
        """The head's velocity ``(B, T, C, h, w)`` of tokens ``(B, T, n, d)``, through the memory skip
        (:class:`~loci.models.memory_skip.MemorySkip`) when the model has one."""
        v = self._unpatchify(self.head(tokens, e), latent_size)
        if self.memory_skip is None:
            return v
        return self.memory_skip(v, x, t, cond.memory if cond is not None else None)

    def _unpatchify(self, out: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
        """``(B, T, n, p·p·C)`` → ``(B, T, C, h, w)`` (Wan's channel order ``(p_h, p_w, C)``), cropped."""
        cfg = self.config
        p, C = cfg.patch_size, cfg.latent_channels
        rows, cols = cfg.token_grid(latent_size)
        B, T = out.shape[:2]
        out = out.view(B, T, rows, cols, p, p, C).permute(0, 1, 6, 2, 4, 3, 5)
        out = out.reshape(B, T, C, rows * p, cols * p)
        return out[..., : latent_size[0], : latent_size[1]]

    def _check_latents(self, x: torch.Tensor, t: torch.Tensor, cond: Conditions | None):
        return check_inputs(self.config, x, t, cond)


def check_inputs(
    cfg: DiTConfig, x: torch.Tensor, t: torch.Tensor, cond: Conditions | None
) -> tuple[int, int, int, int]:
    """Validate latents ``(B, T, C, h, w)``, times ``(B, T)`` and conditions; returns ``(B, T, h, w)``."""
    if x.ndim != 5:
        raise ValueError(f"latents must be (B, T, C, h, w), got shape {tuple(x.shape)}")
    B, T, C, h, w = x.shape
    if C != cfg.latent_channels:
        raise ValueError(f"latents have {C} channels, config latent_channels={cfg.latent_channels}")
    if t.shape != (B, T) or not t.dtype.is_floating_point:
        raise ValueError(
            f"flow time t must be a float tensor of shape (B, T) = {(B, T)}, got {tuple(t.shape)} {t.dtype}"
        )
    if cond is None:
        return B, T, h, w
    if cond.action is not None:
        a = cond.action
        if a.shape != (B, T) or a.dtype != torch.long:
            raise ValueError(
                f"action must be a long tensor of shape (B, T) = {(B, T)}, got {tuple(a.shape)} {a.dtype}"
            )
        if a.numel() and (int(a.min()) < 0 or int(a.max()) > cfg.num_actions):
            raise ValueError(f"action ids must lie in [0, {cfg.num_actions}] ({cfg.num_actions} = null)")
    for name, channels in (("plucker", 6), ("memory", cfg.cond_channels)):
        v = getattr(cond, name)
        if v is not None and tuple(v.shape) != (B, T, channels, h, w):
            raise ValueError(
                f"{name} must have shape (B, T, {channels}, h, w) = {(B, T, channels, h, w)}, got {tuple(v.shape)}"
            )
    for name in ("drop_action", "drop_camera"):
        v = getattr(cond, name)
        if v is not None and (v.shape != (B,) or v.dtype != torch.bool):
            raise ValueError(
                f"{name} must be a bool tensor of shape (B,) = {(B,)}, got {tuple(v.shape)} {v.dtype}"
            )
    return B, T, h, w
