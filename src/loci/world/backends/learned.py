"""The learned world: tokenizer + causal DiT, conditioned on the spatial memory (``loci``, ``dit``).

One step runs five stages, each a method below (InSpatio-World's explicit spatial constraint,
staged as Self-Forcing's inference pipeline is):

1. :meth:`~LearnedBackend.condition`: the memory seen from the target camera — the latent memory
   warped at latent resolution (``memory="latent"``: no pixel round trip), or the RGB point memory
   rendered and encoded (``"points"``) — as the memory channels of the frame being generated, with
   its Plücker rays and action; the RGB point memory's view with its holes inpainted (``warp``'s
   frame) as the SDEdit start and, with ``anchor_from="fill"``, as the latents kept while sampling;
2. :meth:`~LearnedBackend.sample`: a few Euler steps over the new latent frame, attending to a
   sliding window of the latest committed frames (positions relative to the current frame, so
   rollouts run past the training length), which it then joins (without its memory channels);
3. :meth:`~LearnedBackend.decode`: latents → RGB + depth;
4. :meth:`~LearnedBackend.composite`: the point memory's pixels where it covers the view, the
   generated ones (mixed with the inpainting, :func:`hole_weights`) in the disocclusions;
5. :meth:`~LearnedBackend.remember`: what the point memory keeps (the disocclusions, through the
   session, as ``warp``'s filled holes are kept), and the frame's latents, lifted by its depth,
   into the latent memory, in the step that made them.

Teacher forcing (:meth:`observe`) retracts the latest frame's latents from the latent memory
(:meth:`~loci.memory.PointMemory.retract`) and remembers the true frame's instead.
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
    few_step_times,
    latent_plucker,
    renoise_sample,
    sample_chunk,
    sliding_window,
)
from loci.models.sampler import Known

from ..frame import Frame
from ..view import MemoryView, look
from .base import Backend, BackendContext, BackendSpec, MemoryWrite, Produced, StepRequest

MEMORY_MODES = ("latent", "points", "none")
ANCHOR_SOURCES = ("memory", "fill")
SAMPLERS = ("euler", "renoise")


@dataclass(frozen=True)
class SamplingPreset:
    """The learned world's disocclusion mix, tuned per world (``loci/world/presets/*.json``; history in
    docs/tuning.md): ``hole_blend`` share of the generator's pixels in a disocclusion, ``hole_ramp``
    pixels over which it ramps up from the border (0: everywhere), ``anchor_from`` the latents kept
    where the memory is valid (``memory`` or ``fill``)."""

    hole_blend: float
    hole_ramp: float
    anchor_from: str


@dataclass(frozen=True)
class DitConfig:
    """Sampling and memory settings of the learned world (tuning history: docs/tuning.md).

    steps: Euler steps per frame. shift: time shift of the schedule. window: history frames
    attended (≤ the model's max_history). seed: noise seed (a session is reproducible).
    memory: where the memory condition comes from (``latent``, ``points`` or ``none``).
    remember: generated frames enter the session's RGB point memory. commit_t: flow time at which
    finished frames enter the cache. anchor: keep the memory's latents where it is valid while
    sampling, down to this flow time (RePaint-style; None: the memory is a condition only).
    anchor_from: the latents kept there: ``memory`` (the memory condition's own) or ``fill`` (the
    encoded inpainted render of the RGB point memory). composite: show the point memory's pixels
    where it covers the view and the generated ones in the disocclusions, which alone then enter
    the point memory. hole_depth: the depth of those generated pixels: ``nearest`` remembered
    depth, or ``generated`` (the decoder's). start_from_fill: SDEdit: start sampling at this flow
    time from the encoded inpainted render (None: from noise). hole_blend: in the disocclusions,
    ``hole_blend · generated + (1 − hole_blend) · inpainted``. remember_blend: that mix for what the
    point memory keeps, when it differs from what is shown (None: what is shown). hole_ramp: pixels
    over which the mix ramps from the inpainting alone at a disocclusion's border to ``hole_blend``
    (0: ``hole_blend`` everywhere). sampler: ``euler`` (the flow ODE, ``steps`` Euler steps) or
    ``renoise`` (a distilled student's few-step sampler, :func:`loci.models.renoise_sample`: predict
    the clean latents, re-noise them to the next of ``steps`` times). student_steps: ``steps`` of the
    ``student`` backend (trained with 4; 1 and 2 run too, faster). teacher_steps: Euler steps of the
    ``teacher`` backend (the world model from pure noise). Fields left at None take the
    session's preset (:class:`SamplingPreset`)."""

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
    sampler: str = "euler"
    student_steps: int = 4
    teacher_steps: int = 8

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"DitConfig.sampler must be one of {SAMPLERS}, got {self.sampler!r}")
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

    def resolved(self, preset: SamplingPreset) -> DitConfig:
        """This config with the fields left at None set to ``preset``'s values."""
        tuned = dataclasses.asdict(preset)
        return dataclasses.replace(self, **{k: v for k, v in tuned.items() if getattr(self, k) is None})


def hole_weights(covered: np.ndarray, blend: float, ramp: float) -> np.ndarray:
    """``(H, W)`` float32 share of the generator's pixels: ``blend`` · min(1, d / ``ramp``), d the
    Euclidean distance of a pixel to the nearest ``covered`` one (0 on covered pixels); ``blend``
    everywhere when ``ramp`` is 0 or nothing is covered."""
    if ramp == 0 or not covered.any():
        return np.full(covered.shape, blend, np.float32)
    dist = cv2.distanceTransform((~covered).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (blend * np.minimum(dist / ramp, 1.0)).astype(np.float32)


def blend_holes(generated: np.ndarray, inpainted: np.ndarray | None, a: float | np.ndarray) -> np.ndarray:
    """``a · generated + (1 − a) · inpainted`` of uint8 ``(H, W, 3)`` images, ``a`` a float or an
    ``(H, W)`` map (``inpainted`` None when nothing is remembered in view: ``generated`` as is)."""
    if inpainted is None or np.all(np.asarray(a) >= 1):
        return generated
    a = np.asarray(a, np.float32)[..., None] if np.ndim(a) else a
    return (a * generated + (1 - a) * inpainted.astype(np.float32)).round().astype(np.uint8)


def rgb_tensor(rgb: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 → ``(1, 3, H, W)`` in [-1, 1]."""
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1


@dataclass(frozen=True, eq=False)
class Conditioned:
    """What :meth:`LearnedBackend.condition` prepares for one step: ``cond`` (memory channels
    ``(1, 1, C + 2, h, w)`` or None, Plücker rays, action), ``known`` (latents kept while sampling),
    ``init`` (the SDEdit start ``(1, 1, C, h, w)`` and its flow time), ``view`` (the point memory at
    the target camera, None when not needed), ``index`` of the new frame, ``attend`` (its history
    slots), ``latent`` (h, w)."""

    cond: Conditions
    known: Known | None
    init: tuple[torch.Tensor, float] | None
    view: MemoryView | None
    index: int
    attend: list
    latent: tuple[int, int]


class LearnedBackend(Backend):
    name = "dit"

    def __init__(
        self,
        model: CausalDiT,
        tokenizer: Tokenizer,
        cfg: DitConfig,
        sampling: SamplingPreset,
        name: str = "dit",
    ):
        """``sampling``: the values of ``cfg``'s fields left at None (the session's preset)."""
        self.name = name
        self.cfg = cfg.resolved(sampling)
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
        # the latest frame's latents as the latent memory took them: (z, depth (1, H, W), pose, K)
        # tensors, and the latent memory's mark before it took them (teacher forcing retracts it)
        self.latest: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.latest_mark: tuple | None = None

    # ------------------------------------------------------------------ helpers

    def _cond(self, K: torch.Tensor, pose: torch.Tensor, size, latent, keys: str, memory=None) -> Conditions:
        rays = latent_plucker(K, pose, size, latent)
        # a step given as a pose or text has no keys: the null action (the camera says it all)
        action = action_id(keys) if keys else self.model.config.num_actions
        return Conditions(action=torch.tensor([[action]]), plucker=rays[None, None], memory=memory)

    def _encode(self, rgb: np.ndarray, depth: torch.Tensor) -> torch.Tensor:
        """``(H, W, 3)`` uint8, ``(H, W)`` metres → latents ``(1, C, h, w)`` (the session's depth scale)."""
        z, scale = self.tokenizer.encode(rgb_tensor(rgb), depth[None], self.scale)
        if self.scale is None:
            self.scale = scale
        return z

    def _remember_latents(
        self, z: torch.Tensor, depth: torch.Tensor, pose: torch.Tensor, K: torch.Tensor
    ) -> None:
        """Insert a frame's latents ``(1, C, h, w)``, lifted with its depth ``(1, H, W)``, into the
        latent memory; it becomes the latest frame (the one :meth:`observe` replaces)."""
        f = self.tokenizer.downsample
        K_lat = latent_intrinsics(K, tuple(depth.shape[-2:]), f)
        self.latest_mark = self.latents.mark(z.shape[-2] * z.shape[-1])
        self.latents.insert(z[0], block_depth(depth, f)[0], K_lat, pose)
        self.latest = (z, depth, pose, K)

    @torch.inference_mode()
    def _memory_channels(self, K: torch.Tensor, pose: torch.Tensor, size, latent, memory: PointMemory):
        """``(1, 1, C + 2, h, w)`` memory channels at the target camera, or None."""
        if self.memory_mode == "none":
            return None
        f = self.tokenizer.downsample
        if self.memory_mode == "latent":
            r = self.latents.render(latent_intrinsics(K, size, f), pose, latent)
            rendered = Rendered(r.features[None], r.depth[None], r.mask[None])
        else:
            r = memory.render(K, pose, size, count_seen=False)
            z, _ = self.tokenizer.encode(r.features[None] * 2 - 1, r.depth[None], self.scale)
            mask = F.avg_pool2d(r.mask[None, None].float(), f)[:, 0] > 0.999  # whole blocks only
            rendered = Rendered(z, block_depth(r.depth[None] * r.mask[None], f) * mask, mask)
        cond = memory_condition(rendered, self.scale, self.tokenizer.cfg.depth_lambda)
        return cond[:, None]

    # ------------------------------------------------------------------ the stages of one step

    def condition(self, request: StepRequest, K: torch.Tensor, pose: torch.Tensor) -> Conditioned:
        """Stage 1: the conditions of the new frame at ``pose (4, 4)``, ``K (3, 3)`` float32."""
        c, size = self.model.config, request.size
        latent = (size[0] // self.tokenizer.downsample, size[1] // self.tokenizer.downsample)
        mem = self._memory_channels(K, pose, size, latent, request.memory)
        cond = self._cond(K, pose, size, latent, request.keys, mem)
        self.last_keys = request.keys
        attend = sliding_window(self.cache.slots, min(self.cfg.window, c.max_history))
        known = None
        if mem is not None and self.cfg.anchor is not None:
            known = Known(mem[:, :, : c.latent_channels], mem[:, :, -1:] > 0, self.cfg.anchor)
        anchor_fill = known is not None and self.cfg.anchor_from == "fill"
        view = None
        if self.cfg.composite or self.cfg.start_from_fill or anchor_fill:
            view = look(request.memory, K, pose, size, "inpaint", count_seen=False)
        init = None
        if view is not None and not view.empty and (self.cfg.start_from_fill is not None or anchor_fill):
            z_fill = self._encode(view.rgb, torch.from_numpy(view.depth))[:, None]
            if self.cfg.start_from_fill is not None:
                init = (z_fill, self.cfg.start_from_fill)
            if anchor_fill:
                known = Known(z_fill, known.mask, known.until)
        return Conditioned(cond, known, init, view, self.frame_index + 1, attend, latent)

    def sample(self, step: Conditioned) -> torch.Tensor:
        """Stage 2: the new frame's latents ``(1, 1, C, h, w)``, then committed to the KV cache."""
        c = self.model.config
        noise = torch.randn(1, 1, c.latent_channels, *step.latent, generator=self.gen)
        i = step.index
        if self.cfg.sampler == "renoise":
            z = self._renoise(noise, step)
        else:
            z = self._euler(noise, step)
        t = torch.full((1, 1), self.cfg.commit_t)
        self.model.commit(z, self.cache, [i], step.attend, i, step.cond.without("memory"), t=t)
        evict_except(self.cache, sliding_window(self.cache.slots, self.cfg.window))
        self.frame_index = i
        return z

    def _renoise(self, noise: torch.Tensor, step: Conditioned) -> torch.Tensor:
        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.model.step(x, t.expand(1, 1), self.cache, step.attend, step.index, step.cond)

        times = few_step_times(self.cfg.steps, self.cfg.shift)
        z, _, _ = renoise_sample(velocity, noise, times, self.gen)
        return z

    def _euler(self, noise: torch.Tensor, step: Conditioned) -> torch.Tensor:
        i = step.index
        return sample_chunk(
            self.model,
            noise,
            self.cache,
            step.attend,
            i,
            step.cond,
            self.sampler,
            known=step.known,
            init=step.init,
        )

    def decode(self, z: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """Stage 3: latents ``(1, 1, C, h, w)`` → RGB ``(H, W, 3)`` uint8 and depth ``(H, W)`` metres."""
        rgb, depth = self.tokenizer.decode(z[:, 0], self.scale)
        img = ((rgb[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        return img, depth[0].float()

    def composite(
        self, img: np.ndarray, depth: torch.Tensor, view: MemoryView | None
    ) -> tuple[np.ndarray, np.ndarray, torch.Tensor, np.ndarray, torch.Tensor | None]:
        """Stage 4: the frame shown — the memory's pixels where it covers the view, the generated ones
        mixed with the inpainting in the disocclusions. Returns (shown RGB, what the point memory
        keeps of it, depth ``(H, W)``, coverage ``(H, W)`` bool, the pixels it keeps or None: all)."""
        if not self.cfg.composite:
            return img, img, depth, np.zeros(img.shape[:2], bool), None
        coverage = view.rendered.mask.numpy()
        closed_t = view.covered
        closed = closed_t.numpy()
        inpainted = None if view.empty else view.rgb
        shown_d = torch.from_numpy(view.depth) if not view.empty else view.rendered.depth
        ramp = hole_weights(closed, 1.0, self.cfg.hole_ramp)
        shown_memory = view.rgb if not view.empty else img
        shown = np.where(
            closed[..., None], shown_memory, blend_holes(img, inpainted, self.cfg.hole_blend * ramp)
        )
        kept = shown
        if self.cfg.remember_blend is not None:
            kept = np.where(
                closed[..., None], shown_memory, blend_holes(img, inpainted, self.cfg.remember_blend * ramp)
            )
        if self.cfg.hole_depth == "nearest" and coverage.any():
            # where the decoder draws sky (depth 0: at infinity) nothing enters the point memory
            depth = torch.where(closed_t | (depth > 0), shown_d, 0.0)
        else:
            depth = torch.where(closed_t, shown_d, depth)
        return shown, kept, depth, coverage, ~closed_t

    def remember(
        self,
        z: torch.Tensor,
        kept: np.ndarray,
        depth: torch.Tensor,
        K: torch.Tensor,
        pose: torch.Tensor,
        new: torch.Tensor | None,
        view: MemoryView | None,
    ) -> MemoryWrite | None:
        """Stage 5: the frame's latents enter the latent memory; the pixels ``new`` (None: all) of
        ``kept`` go to the point memory (through the session), if ``cfg.remember``."""
        self._remember_latents(z[:, 0], depth[None], pose, K)
        if not self.cfg.remember:
            return None
        rgb = torch.from_numpy(kept).permute(2, 0, 1).float() / 255
        return MemoryWrite(rgb, depth, K, pose, valid=new, remembered=None if view is None else view.rendered)

    # ------------------------------------------------------------------ Backend API

    @torch.inference_mode()
    def step(self, request: StepRequest) -> Produced:
        if self.cache is None:
            raise RuntimeError("the dit backend produces frames only after the session's start frame")
        t0 = time.perf_counter()
        K, pose = torch.from_numpy(np.asarray(request.K, np.float32)), request.pose
        step = self.condition(request, K, pose)
        t1 = time.perf_counter()
        z = self.sample(step)
        t2 = time.perf_counter()
        img, depth = self.decode(z)
        t3 = time.perf_counter()
        shown, kept, depth, coverage, new = self.composite(img, depth, step.view)
        write = self.remember(z, kept, depth, K, pose, new, step.view)
        t4 = time.perf_counter()
        timings = {
            "memory_ms": (t1 - t0) * 1000,  # the condition stage: the memory seen from the target
            "generate_ms": (t2 - t1) * 1000,
            "decode_ms": (t3 - t2) * 1000,
            "composite_ms": (t4 - t3) * 1000,
        }
        return Produced(shown, depth.numpy(), pose.numpy(), request.K, coverage, timings, write)

    @torch.inference_mode()
    def first(self, frame: Frame) -> Frame:
        self.scale = None
        depth = torch.from_numpy(frame.depth)
        z = self._encode(frame.rgb, depth)
        latent = tuple(z.shape[-2:])
        K, pose = torch.from_numpy(np.asarray(frame.K, np.float32)), torch.from_numpy(frame.pose)
        self.cache = self.model.new_cache(1, latent, capacity=self.cfg.window + 1)
        cond = self._cond(K, pose, frame.size, latent, "")
        self.model.commit(z[:, None], self.cache, [0], [], 0, cond)
        self.frame_index = 0
        self.last_keys = ""
        self.latents = LatentMemory(self.model.config.latent_channels)
        self._remember_latents(z, depth[None], pose, K)
        return frame

    @torch.inference_mode()
    def observe(self, frame: Frame) -> None:
        """Replace the latest committed frame by the true one (teacher forcing), in cache and memory."""
        if self.cache is None:
            raise RuntimeError("the dit backend observes frames only after the session's start frame")
        depth = torch.from_numpy(frame.depth)
        z = self._encode(frame.rgb, depth)
        K, pose = torch.from_numpy(np.asarray(frame.K, np.float32)), torch.from_numpy(frame.pose)
        i = self.frame_index
        self.cache.evict([i])
        history = sliding_window(self.cache.slots, min(self.cfg.window, self.model.config.max_history))
        cond = self._cond(K, pose, frame.size, tuple(z.shape[-2:]), self.last_keys)
        t = torch.full((1, 1), self.cfg.commit_t)
        self.model.commit(z[:, None], self.cache, [i], history, i, cond, t=t)
        self.latents.retract(self.latest_mark)
        self._remember_latents(z, depth[None], pose, K)

    # ------------------------------------------------------------------ saving

    def state_dict(self) -> dict[str, torch.Tensor]:
        """KV cache, latent memory, the latest frame's latents and the mark before them, depth scale,
        step and noise state."""
        if self.cache is None:
            raise RuntimeError("nothing to save before the session's start frame")
        state = {f"cache.{k}": v for k, v in self.cache.state_dict().items()}
        state |= {f"latents.{k}": v for k, v in self.latents.state_dict().items()}
        z, depth, pose, K = self.latest
        state |= {
            "latest.z": z.clone(),
            "latest.depth": depth.clone(),
            "latest.pose": pose.float().clone(),
            "latest.K": K.float().clone(),
        }
        if self.latest_mark[0] == "count":
            state["latest.mark"] = torch.tensor(self.latest_mark[1:], dtype=torch.long)
        else:
            state |= {f"latest.before.{k}": v for k, v in self.latest_mark[1].items()}
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
        old = part("pending.")  # saved before the latents entered the memory in their own step
        if {"z", "depth", "pose", "K"} <= set(old):
            self._remember_latents(old["z"], old["depth"], old["pose"].float(), old["K"].float())
        else:
            p = part("latest.")
            if not {"z", "depth", "pose", "K"} <= set(p):
                raise ValueError("learned-world state lacks the latest frame's latents")
            self.latest = (p["z"], p["depth"], p["pose"].float(), p["K"].float())
            before = part("latest.before.")
            if before:
                self.latest_mark = ("copy", before)
            elif "mark" in p and tuple(p["mark"].shape) == (2,):
                self.latest_mark = ("count", int(p["mark"][0]), int(p["mark"][1]))
            else:
                raise ValueError("learned-world state lacks the latent memory's mark before the latest frame")
        self.scale = state["scale"].float()
        self.frame_index = int(state["frame_index"])
        self.gen.set_state(state["noise_state"])
        self.last_keys = bytes(state["last_keys"].tolist()).decode()


def _builder(name: str, with_memory: bool, from_noise: str | None = None):
    """``from_noise``: None (the configured sampling), ``"teacher"`` (the world model's flow ODE from
    pure noise, ``teacher_steps`` Euler steps) or ``"student"`` (the few-step renoise sampler,
    ``student_steps``); both see the latent memory and draw every pixel (no compositing, no inpainting)."""

    def build(ctx: BackendContext) -> LearnedBackend:
        cfg = ctx.world.dit
        if not with_memory:  # the same model without any spatial memory
            cfg = dataclasses.replace(cfg, memory="none", composite=False, start_from_fill=None)
        if from_noise is not None:
            student = from_noise == "student"
            cfg = dataclasses.replace(
                cfg,
                sampler="renoise" if student else "euler",
                steps=cfg.student_steps if student else cfg.teacher_steps,
                memory="latent",
                composite=False,
                start_from_fill=None,
                anchor=None,
            )
        model, tokenizer = ctx.models()
        return LearnedBackend(model, tokenizer, cfg, ctx.preset.sampling, name)

    return build


SPECS = (
    BackendSpec(
        "loci",
        _builder("loci", True),
        "the learned world (tokenizer + causal DiT) conditioned on its spatial memory (shipped)",
        learned=True,
    ),
    BackendSpec(
        "student",
        _builder("student", True, from_noise="student"),
        "the few-step student distilled from the learned world (Self-Forcing + DMD): every pixel "
        "generated, from noise, conditioned on its latent memory (no compositing, no inpainting)",
        learned=True,
        weights="student",
    ),
    BackendSpec(
        "teacher",
        _builder("teacher", True, from_noise="teacher"),
        "the learned world as a teacher: its flow ODE from pure noise (teacher_steps Euler steps), "
        "conditioned on its latent memory, every pixel generated (no compositing, no inpainting)",
        learned=True,
    ),
    BackendSpec(
        "dit",
        _builder("dit", False),
        "the same learned model without its spatial memory (the ablation)",
        learned=True,
    ),
)
