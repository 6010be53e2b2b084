"""The ``dit`` backend: the learned causal world model (tokenizer + DiT), without spatial-memory conditioning.

Each step generates one latent frame with a few Euler steps, attending to a sliding window of the
latest committed frames in the KV cache (positions fixed relative to the current frame, so long
rollouts never leave the positions seen in training), decodes it to RGB + depth, and commits it.
Poses enter as Plücker rays in the session's global frame; actions as key ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from loci.control import action_id
from loci.memory import PointMemory
from loci.models import (
    CausalDiT,
    Conditions,
    SamplerConfig,
    Tokenizer,
    evict_except,
    latent_plucker,
    sample_chunk,
    sliding_window,
)

from .backends import Backend
from .frame import Frame


@dataclass(frozen=True)
class DitConfig:
    """steps: Euler steps per frame. shift: time shift of the schedule. window: history frames
    attended (≤ the model's max_history). seed: noise seed (a session is reproducible)."""

    steps: int = 4
    shift: float = 3.0
    window: int = 8
    seed: int = 0


class DitBackend(Backend):
    name = "dit"

    def __init__(self, model: CausalDiT, tokenizer: Tokenizer, cfg: DitConfig | None = None):
        self.cfg = cfg or DitConfig()
        if model.config.chunk_frames != 1:
            raise ValueError(
                f"the interactive dit backend needs a model with chunk_frames=1, got {model.config.chunk_frames}"
            )
        if model.config.latent_channels != tokenizer.cfg.latent_channels:
            raise ValueError("the DiT and the tokenizer disagree on latent channels")
        self.model, self.tokenizer = model.eval(), tokenizer.eval()
        self.sampler = SamplerConfig(steps=self.cfg.steps, shift=self.cfg.shift)
        self.gen = torch.Generator().manual_seed(self.cfg.seed)
        self.cache = None
        self.frame_index = 0
        self.last_keys = ""
        self.scale: torch.Tensor | None = None

    def _cond(
        self, pose: np.ndarray, K: np.ndarray, size: tuple[int, int], latent: tuple[int, int], keys: str
    ) -> Conditions:
        rays = latent_plucker(
            torch.from_numpy(K).float(), torch.from_numpy(pose.astype(np.float32)), size, latent
        )
        return Conditions(action=torch.tensor([[action_id(keys)]]), plucker=rays[None, None])

    @torch.inference_mode()
    def first(self, frame: Frame, memory: PointMemory) -> Frame:
        rgb = torch.from_numpy(frame.rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
        z, self.scale = self.tokenizer.encode(rgb, torch.from_numpy(frame.depth)[None])
        latent = tuple(z.shape[-2:])
        self.cache = self.model.new_cache(1, latent, capacity=self.cfg.window + 1)
        cond = self._cond(frame.pose, frame.K, frame.size, latent, "")
        self.model.commit(z[:, None], self.cache, [0], [], 0, cond)
        self.frame_index = 0
        self.last_keys = ""
        return frame

    @torch.inference_mode()
    def observe(self, frame: Frame) -> None:
        """Replace the latest committed frame by the true one (teacher forcing)."""
        if self.cache is None:
            raise RuntimeError("the dit backend observes frames only after the session's start frame")
        rgb = torch.from_numpy(frame.rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
        z, _ = self.tokenizer.encode(rgb, torch.from_numpy(frame.depth)[None], self.scale)
        i = self.frame_index
        self.cache.evict([i])
        history = sliding_window(self.cache.slots, min(self.cfg.window, self.model.config.max_history))
        latent = tuple(z.shape[-2:])
        cond = self._cond(frame.pose, frame.K, frame.size, latent, self.last_keys)
        self.model.commit(z[:, None], self.cache, [i], history, i, cond)

    @torch.inference_mode()
    def produce(self, pose, K, size, memory, last, action=""):
        if self.cache is None:
            raise RuntimeError("the dit backend produces frames only after the session's start frame")
        t0 = time.perf_counter()
        c = self.model.config
        latent = (size[0] // self.tokenizer.downsample, size[1] // self.tokenizer.downsample)
        i = self.frame_index + 1
        cond = self._cond(pose, K, size, latent, action)
        self.last_keys = action
        attend = sliding_window(self.cache.slots, min(self.cfg.window, c.max_history))
        noise = torch.randn(1, 1, c.latent_channels, *latent, generator=self.gen)
        z = sample_chunk(self.model, noise, self.cache, attend, i, cond, self.sampler)
        t_gen = time.perf_counter()
        self.model.commit(z, self.cache, [i], attend, i, cond)
        evict_except(self.cache, sliding_window(self.cache.slots, self.cfg.window))
        self.frame_index = i
        rgb, depth = self.tokenizer.decode(z[:, 0], self.scale)
        t_dec = time.perf_counter()
        img = ((rgb[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        d = depth[0].float().numpy()
        timings = {"generate_ms": (t_gen - t0) * 1000, "decode_ms": (t_dec - t_gen) * 1000}
        return Frame(img, d, pose.astype(np.float32), K, np.zeros(size, bool), 0, "", timings)
