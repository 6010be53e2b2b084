"""The learned world: tokenizer + causal DiT, conditioned on the spatial memory (backends ``loci``, ``dit``).

One step, at the target pose (InSpatio-World's explicit spatial constraint):

1. the memory is rendered at the target camera — the latent memory directly at latent resolution
   (``memory="latent"``: warped latents, no pixel round trip), or the session's RGB point memory at
   pixel resolution, then encoded by the tokenizer (``memory="points"``) — giving the warped latent,
   its depth and validity mask (:func:`loci.memory.latent.memory_condition`);
2. a few Euler steps generate the new latent frame, attending to a sliding window of the latest
   committed frames in the KV cache (positions fixed relative to the current frame, so rollouts run
   past the training length); the memory channels sit on the frame being generated only;
3. the frame is committed to the cache without its memory channels, decoded to RGB + depth, and its
   latents (lifted with the predicted depth) and pixels enter the memories: what is generated is
   remembered.

Poses enter as Plücker rays in the session's global frame; key actions as key ids (steps given as
a pose or as text get the null action, which training's action dropout taught). A model trained
without memory channels (``cond_channels = 0``) runs with ``memory="none"``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from loci.control import action_id
from loci.geometry.splat import Rendered
from loci.memory import PointMemory
from loci.memory.latent import LatentMemory, block_depth, latent_intrinsics, memory_condition
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
from loci.models.sampler import Known

from .backends import Backend
from .fill import closed_coverage, fill_holes
from .frame import Frame

MEMORY_MODES = ("latent", "points", "none")
ANCHOR_SOURCES = ("memory", "fill")


@dataclass(frozen=True)
class DitConfig:
    """steps: Euler steps per frame. shift: time shift of the schedule. window: history frames
    attended (≤ the model's max_history). seed: noise seed (a session is reproducible).
    memory: where the memory condition comes from (``latent``, ``points`` or ``none``).
    remember: also insert generated frames into the session's RGB point memory (the map, the
    ``points`` mode). commit_t: flow time at which finished frames enter the cache. anchor: keep the
    memory's latents where it is valid while sampling, down to this flow time (RePaint-style
    replacement: the model generates the holes around what is remembered; the last steps below it
    harmonise the seams); None = the memory is a condition only. anchor_from: the latents kept
    there: ``memory``, the memory condition's own (the warped latent memory, or in ``points`` mode
    the encoded render), or ``fill``, the tokenizer's encoding of the RGB point memory's render with
    its holes inpainted (the SDEdit start below; the memory condition's latents where there is none):
    one encoding across a hole's border, where the warped latents beside generated ones made the
    decoder draw a dark-and-bright line along it (BENCHMARKS.md). None: the value tuned for the
    session's engine (:data:`ENGINE_SAMPLING`). composite: show the RGB point
    memory's pixels where it covers the view (the cracks between its splatted points inpainted from
    them, as ``warp`` does) and the generated pixels in the disocclusions, which alone then enter the
    point memory: the generator as a learned hole filler of the explicit memory. hole_depth: the depth
    those generated pixels get: ``nearest``, the nearest remembered depth as ``warp`` does (it
    continues the surfaces at the hole's border), or ``generated``, the decoder's own — noisier, and
    its flying points occlude the memory on later visits (BENCHMARKS.md: long rollouts).
    start_from_fill: SDEdit: start the new latent at this flow time from the encoded RGB point memory
    render with its holes inpainted (what ``warp`` would show), so the generator repairs a degraded
    view instead of inventing one from noise (NeoVerse's repair of degraded renders, at inference);
    None: start from pure noise. 0.3 was the best of 0.75 / 0.5 / 0.3 / none on training levels.
    hole_blend: with the composite, the disocclusions show (and the memory keeps)
    ``hole_blend · generated + (1 − hole_blend) · inpainted``: 1 = the generator's pixels alone,
    0 = ``warp``'s inpainting alone. The two guesses of unseen space err differently, and their
    mean errs less than either (an ensemble of two), at the price of softer disocclusions. 0.75
    beat 1 (the generator alone) on every metric on training levels; 0.5 and 0.25 gained SSIM and
    lost PSNR at 64 frames. None: the value tuned for the session's engine (:data:`ENGINE_SAMPLING`).
    remember_blend: the same mix for the pixels that enter the point memory, when it differs from
    what is shown (None: what is shown is remembered).
    hole_ramp: pixels over which that mix ramps from the inpainting alone, at a disocclusion's border,
    to ``hole_blend``, this far inside it (OpenCV's distance transform): inpainting continues the
    border well and degrades with distance, where the generator's guess does not. 0: ``hole_blend``
    everywhere. None: the value tuned for the session's engine.
    The defaults were chosen on training levels with ``scripts/tune_sampling.py`` (BENCHMARKS.md);
    the ramp's 4 pixels over 8 on the held-out Doom cases' Trajectory Accuracy."""

    steps: int = 2
    shift: float = 3.0
    window: int = 8
    seed: int = 0
    memory: str = "latent"
    remember: bool = True
    commit_t: float = 0.0
    anchor: float | None = 0.0
    anchor_from: str | None = None
    composite: bool = True
    hole_depth: str = "nearest"
    start_from_fill: float | None = 0.3
    hole_blend: float | None = None
    remember_blend: float | None = None
    hole_ramp: float | None = None

    def __post_init__(self) -> None:
        if self.memory not in MEMORY_MODES:
            raise ValueError(f"DitConfig.memory must be one of {MEMORY_MODES}, got {self.memory!r}")
        if self.steps < 1 or self.window < 1 or not 0 <= self.commit_t < 1:
            raise ValueError("DitConfig needs steps >= 1, window >= 1 and commit_t in [0, 1)")
        if self.anchor_from is not None and self.anchor_from not in ANCHOR_SOURCES:
            raise ValueError(
                f"DitConfig.anchor_from must be one of {ANCHOR_SOURCES}, got {self.anchor_from!r}"
            )
        if self.hole_depth not in ("generated", "nearest"):
            raise ValueError(
                f"DitConfig.hole_depth must be 'generated' or 'nearest', got {self.hole_depth!r}"
            )
        if self.anchor is not None and not 0 <= self.anchor <= 1:
            raise ValueError(f"DitConfig.anchor must be None or in [0, 1], got {self.anchor}")
        for name in ("hole_blend", "remember_blend"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"DitConfig.{name} must be in [0, 1], got {value}")
        if self.hole_ramp is not None and not self.hole_ramp >= 0:
            raise ValueError(f"DitConfig.hole_ramp must be None or >= 0 pixels, got {self.hole_ramp}")
        if self.start_from_fill is not None and not 0 < self.start_from_fill <= 1:
            raise ValueError(
                f"DitConfig.start_from_fill must be None or in (0, 1], got {self.start_from_fill}"
            )

    def for_engine(self, engine: str | None) -> DitConfig:
        """This config with the fields left at None set to ``engine``'s tuned values
        (:data:`ENGINE_SAMPLING`; an image of unknown origin gets :data:`DEFAULT_SAMPLING`)."""
        tuned = ENGINE_SAMPLING.get(engine, DEFAULT_SAMPLING)
        return dataclasses.replace(self, **{k: v for k, v in tuned.items() if getattr(self, k) is None})


# The disocclusion mix tuned per engine (BENCHMARKS.md: "The disocclusion mix per engine"). Doom:
# the inpainting alone at the disocclusions' border, ramping to 3 parts generated in 4 pixels in
# (SSIM and PSNR up on the 40 held-out cases at the same TA), the memory's latents anchored.
# MiniWorld: 0.6 generated everywhere, its flat walls better continued by the inpainting than by the
# Doom-trained generator's textures, and the encoded fill anchored, so no line is drawn where a
# generated strip meets the memory (on Doom's busy textures that gains nothing). An image of unknown
# origin gets Doom's (the generator's training world).
DEFAULT_SAMPLING: dict[str, float | str] = {"hole_blend": 0.75, "hole_ramp": 4.0, "anchor_from": "memory"}
ENGINE_SAMPLING: dict[str, dict[str, float | str]] = {
    "vizdoom": DEFAULT_SAMPLING,
    "miniworld": {"hole_blend": 0.6, "hole_ramp": 0.0, "anchor_from": "fill"},
}


def hole_weights(covered: np.ndarray, blend: float, ramp: float) -> np.ndarray:
    """``(H, W)`` float32 share of the generator's pixels: ``blend`` · min(1, d / ``ramp``), d the
    Euclidean distance of a pixel to the nearest ``covered`` one (0 on covered pixels); ``blend``
    everywhere when ``ramp`` is 0 or nothing is covered."""
    if ramp == 0 or not covered.any():
        return np.full(covered.shape, blend, np.float32)
    dist = cv2.distanceTransform((~covered).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (blend * np.minimum(dist / ramp, 1.0)).astype(np.float32)


def _blend(generated: np.ndarray, fill: tuple | None, a: float | np.ndarray) -> np.ndarray:
    """``a · generated + (1 − a) · inpainted`` of uint8 ``(H, W, 3)`` images, ``a`` a float or an
    ``(H, W)`` map (``fill``: the inpainted render and its depth, None when nothing is remembered in
    view: the generated image as is)."""
    if fill is None or np.all(np.asarray(a) >= 1):
        return generated
    a = np.asarray(a, np.float32)[..., None] if np.ndim(a) else a
    return (a * generated + (1 - a) * fill[0].astype(np.float32)).round().astype(np.uint8)


def _rgb_tensor(rgb: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 → ``(1, 3, H, W)`` in [-1, 1]."""
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1


class DitBackend(Backend):
    name = "dit"

    def __init__(
        self, model: CausalDiT, tokenizer: Tokenizer, cfg: DitConfig | None = None, engine: str | None = None
    ):
        """``engine``: whose world the session shows, if known (it picks the tuned sampling values)."""
        self.cfg = (cfg or DitConfig()).for_engine(engine)
        c = model.config
        if not c.cond_channels and self.cfg.start_from_fill is not None:
            # a model without memory channels runs without any memory, the start included
            self.cfg = dataclasses.replace(self.cfg, start_from_fill=None)
        if c.chunk_frames != 1:
            raise ValueError(
                f"the interactive dit backend needs a model with chunk_frames=1, got {c.chunk_frames}"
            )
        if c.latent_channels != tokenizer.cfg.latent_channels:
            raise ValueError("the DiT and the tokenizer disagree on latent channels")
        if c.cond_channels not in (0, c.latent_channels + 2):
            raise ValueError(
                f"the DiT's cond_channels must be 0 or latent_channels + 2 = {c.latent_channels + 2}, got {c.cond_channels}"
            )
        self.memory_mode = self.cfg.memory if c.cond_channels else "none"
        self.model, self.tokenizer = model.eval(), tokenizer.eval()
        self.sampler = SamplerConfig(steps=self.cfg.steps, shift=self.cfg.shift)
        self.gen = torch.Generator().manual_seed(self.cfg.seed)
        self.cache = None
        self.frame_index = 0
        self.last_keys = ""
        self.scale: torch.Tensor | None = None
        self.latents = LatentMemory(c.latent_channels)
        self.pending: tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ helpers

    def _cond(self, pose: np.ndarray, K: np.ndarray, size, latent, keys: str, memory=None) -> Conditions:
        rays = latent_plucker(
            torch.from_numpy(K).float(), torch.from_numpy(pose.astype(np.float32)), size, latent
        )
        # a step given as a pose or text has no keys: the null action (the camera says it all)
        action = action_id(keys) if keys else self.model.config.num_actions
        return Conditions(action=torch.tensor([[action]]), plucker=rays[None, None], memory=memory)

    def _encode(self, frame: Frame) -> torch.Tensor:
        z, scale = self.tokenizer.encode(
            _rgb_tensor(frame.rgb), torch.from_numpy(frame.depth)[None], self.scale
        )
        if self.scale is None:
            self.scale = scale
        return z

    def _flush(self) -> None:
        """Insert the latest frame's latents (lifted with its depth) into the latent memory."""
        if self.pending is None:
            return
        z, depth, pose, K = self.pending
        f = self.tokenizer.downsample
        size = tuple(depth.shape[-2:])
        K_lat = latent_intrinsics(torch.from_numpy(K).float(), size, f)
        self.latents.insert(z[0], block_depth(depth, f)[0], K_lat, torch.from_numpy(pose.astype(np.float32)))
        self.pending = None

    def _memory_condition(self, pose: np.ndarray, K: np.ndarray, size, latent, memory: PointMemory):
        """``(1, 1, C + 2, h, w)`` memory channels at the target camera, or None."""
        if self.memory_mode == "none":
            return None
        f = self.tokenizer.downsample
        Kt, Pt = torch.from_numpy(K).float(), torch.from_numpy(pose.astype(np.float32))
        if self.memory_mode == "latent":
            self._flush()
            r = self.latents.render(latent_intrinsics(Kt, size, f), Pt, latent)
            rendered = Rendered(r.features[None], r.depth[None], r.mask[None])
        else:
            r = memory.render(Kt, Pt, size, count_seen=False)
            z, _ = self.tokenizer.encode(r.features[None] * 2 - 1, r.depth[None], self.scale)
            mask = F.avg_pool2d(r.mask[None, None].float(), f)[:, 0] > 0.999  # whole blocks only
            rendered = Rendered(z, block_depth(r.depth[None] * r.mask[None], f) * mask, mask)
        cond = memory_condition(rendered, self.scale, self.tokenizer.cfg.depth_lambda)
        return cond[:, None]

    # ------------------------------------------------------------------ saving

    def state_dict(self) -> dict[str, torch.Tensor]:
        """KV cache, latent memory, the frame awaiting insertion, depth scale, step and noise state."""
        if self.cache is None:
            raise RuntimeError("nothing to save before the session's start frame")
        state = {f"cache.{k}": v for k, v in self.cache.state_dict().items()}
        state |= {f"latents.{k}": v for k, v in self.latents.state_dict().items()}
        if self.pending is not None:
            z, depth, pose, K = self.pending
            state |= {
                "pending.z": z.clone(),
                "pending.depth": depth.clone(),
                "pending.pose": torch.tensor(np.asarray(pose, np.float32)),
                "pending.K": torch.tensor(np.asarray(K, np.float32)),
            }
        return state | {
            "scale": self.scale.clone(),
            "frame_index": torch.tensor(self.frame_index),
            "noise_state": self.gen.get_state(),
            "last_keys": torch.tensor(list(self.last_keys.encode()), dtype=torch.uint8),
        }

    @torch.inference_mode()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}

        missing = {"scale", "frame_index", "noise_state", "last_keys", "cache.slots"} - set(state)
        if missing:
            raise ValueError(f"learned-world state lacks {sorted(missing)}")
        self.cache.load_state_dict(part("cache."))
        self.latents.load_state_dict(part("latents."))
        p = part("pending.")
        self.pending = (
            (p["z"], p["depth"], p["pose"].numpy(), p["K"].numpy())
            if {"z", "depth", "pose", "K"} <= set(p)
            else None
        )
        self.scale = state["scale"].float()
        self.frame_index = int(state["frame_index"])
        self.gen.set_state(state["noise_state"])
        self.last_keys = bytes(state["last_keys"].tolist()).decode()

    # ------------------------------------------------------------------ Backend API

    @torch.inference_mode()
    def first(self, frame: Frame, memory: PointMemory) -> Frame:
        self.scale = None
        z = self._encode(frame)
        latent = tuple(z.shape[-2:])
        self.cache = self.model.new_cache(1, latent, capacity=self.cfg.window + 1)
        cond = self._cond(frame.pose, frame.K, frame.size, latent, "")
        self.model.commit(z[:, None], self.cache, [0], [], 0, cond)
        self.frame_index = 0
        self.last_keys = ""
        self.latents = LatentMemory(self.model.config.latent_channels)
        self.pending = (z, torch.from_numpy(frame.depth)[None], frame.pose, frame.K)
        return frame

    @torch.inference_mode()
    def observe(self, frame: Frame) -> None:
        """Replace the latest committed frame by the true one (teacher forcing), in cache and memory."""
        if self.cache is None:
            raise RuntimeError("the dit backend observes frames only after the session's start frame")
        z = self._encode(frame)
        i = self.frame_index
        self.cache.evict([i])
        history = sliding_window(self.cache.slots, min(self.cfg.window, self.model.config.max_history))
        cond = self._cond(frame.pose, frame.K, frame.size, tuple(z.shape[-2:]), self.last_keys)
        t = torch.full((1, 1), self.cfg.commit_t)
        self.model.commit(z[:, None], self.cache, [i], history, i, cond, t=t)
        self.pending = (z, torch.from_numpy(frame.depth)[None], frame.pose, frame.K)

    @torch.inference_mode()
    def produce(self, pose, K, size, memory, last, action=""):
        if self.cache is None:
            raise RuntimeError("the dit backend produces frames only after the session's start frame")
        t0 = time.perf_counter()
        c = self.model.config
        latent = (size[0] // self.tokenizer.downsample, size[1] // self.tokenizer.downsample)
        i = self.frame_index + 1
        mem = self._memory_condition(pose, K, size, latent, memory)
        cond = self._cond(pose, K, size, latent, action, mem)
        t_mem = time.perf_counter()
        self.last_keys = action
        attend = sliding_window(self.cache.slots, min(self.cfg.window, c.max_history))
        noise = torch.randn(1, 1, c.latent_channels, *latent, generator=self.gen)
        known = None
        if mem is not None and self.cfg.anchor is not None:
            C = c.latent_channels
            known = Known(mem[:, :, :C], mem[:, :, -1:] > 0, self.cfg.anchor)
        Kt, Pt = torch.from_numpy(K).float(), torch.from_numpy(pose.astype(np.float32))
        anchor_fill = known is not None and self.cfg.anchor_from == "fill"
        seen = (
            memory.render(Kt, Pt, size, count_seen=False)
            if self.cfg.composite or self.cfg.start_from_fill or anchor_fill
            else None
        )
        init, fill = None, None  # fill: the render with its holes inpainted (uint8 RGB, depth)
        if seen is not None and bool(seen.mask.any()):
            shown = (seen.features.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
            fill = fill_holes(shown, seen.depth.numpy(), seen.mask.numpy(), "inpaint")
        if fill is not None and (self.cfg.start_from_fill is not None or anchor_fill):
            z_fill, _ = self.tokenizer.encode(
                _rgb_tensor(fill[0]), torch.from_numpy(fill[1])[None], self.scale
            )
            if self.cfg.start_from_fill is not None:
                init = (z_fill[:, None], self.cfg.start_from_fill)
            if anchor_fill:
                known = Known(z_fill[:, None], known.mask, known.until)
        z = sample_chunk(self.model, noise, self.cache, attend, i, cond, self.sampler, known=known, init=init)
        t_gen = time.perf_counter()
        t = torch.full((1, 1), self.cfg.commit_t)
        self.model.commit(z, self.cache, [i], attend, i, cond.without("memory"), t=t)
        evict_except(self.cache, sliding_window(self.cache.slots, self.cfg.window))
        self.frame_index = i
        t_commit = time.perf_counter()
        rgb, depth = self.tokenizer.decode(z[:, 0], self.scale)
        t_dec = time.perf_counter()
        img = ((rgb[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        d = depth[0].float()
        coverage = np.zeros(size, bool)
        new = None  # pixels that enter the point memory (None: all)
        kept = None  # what they show when it differs from the frame (remember_blend)
        if self.cfg.composite:
            coverage = seen.mask.numpy()
            closed = closed_coverage(coverage)
            # nothing remembered in view: nothing is shown from the memory (closed is all False)
            shown, shown_d = fill if fill is not None else (img, seen.depth.numpy())
            generated = img
            ramp = hole_weights(closed, 1.0, self.cfg.hole_ramp)
            img = np.where(closed[..., None], shown, _blend(generated, fill, self.cfg.hole_blend * ramp))
            if self.cfg.remember_blend is not None:
                kept = np.where(
                    closed[..., None], shown, _blend(generated, fill, self.cfg.remember_blend * ramp)
                )
            if self.cfg.hole_depth == "nearest" and coverage.any():
                # where the decoder draws sky (depth 0: at infinity) nothing enters the point memory
                d = torch.where(torch.from_numpy(closed) | (d > 0), torch.from_numpy(shown_d), 0.0)
            else:
                d = torch.where(torch.from_numpy(closed), torch.from_numpy(shown_d), d)
            new = torch.from_numpy(~closed)
        self.pending = (z[:, 0], d[None], pose, K)
        if self.cfg.remember:
            memory.insert(
                torch.from_numpy(img if kept is None else kept).permute(2, 0, 1).float() / 255,
                d,
                Kt,
                Pt,
                valid=new,
                remembered=seen,
            )
        timings = {
            "memory_ms": (t_mem - t0) * 1000,
            "generate_ms": (t_gen - t_mem) * 1000,
            "commit_ms": (t_commit - t_gen) * 1000,
            "decode_ms": (t_dec - t_commit) * 1000,
            "remember_ms": (time.perf_counter() - t_dec) * 1000,
        }
        return Frame(img, d.numpy(), pose.astype(np.float32), K, coverage, 0, "", timings)
