"""World = a backend + a memory + a controller. ``start(...) -> Session``; ``load_session(path)``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loci.control import KeyStepConfig, PoseController
from loci.engines import Engine, make_engine
from loci.geometry import intrinsics_from_fov
from loci.io import file_digest
from loci.memory import LightFalloff, PointMemory, PointMemoryConfig, frame_strength, load_light_falloff
from loci.models import SHIPPED_DEPTH, SHIPPED_LIGHT, SHIPPED_TOKENIZER, SHIPPED_WORLD

from .backends import (
    BACKENDS,
    LEARNED_BACKENDS,
    Backend,
    CopyLastBackend,
    EngineBackend,
    WarpBackend,
    WarpConfig,
)
from .dit_backend import DitBackend, DitConfig
from .frame import Frame
from .session import Session


@dataclass(frozen=True)
class WorldConfig:
    """backend: ``loci``, ``dit``, ``warp``, ``copy-last`` or ``engine``. steps: key step sizes for
    pose-driven backends. memory: point-memory settings. warp: hole filling. fov_x_deg: default
    horizontal FOV when ``start`` gets no K. tokenizer_checkpoint / world_checkpoint: the learned
    backends' weights (None: the ones shipped in ``loci/models/weights``). dit: their sampling and
    memory settings (``loci`` uses ``dit.memory``; ``dit`` always runs without memory; the fields it
    leaves at None take the values tuned for the session's engine, :meth:`DitConfig.for_engine`).
    depth_checkpoint: the monocular depth model that completes a start image given without depth
    (None: the shipped one). light: how the memory re-lights remembered colours for the distance
    they are shown at (:class:`~loci.memory.LightFalloff`): ``"auto"`` (default), the falloff
    shipped for the engine a learned backend's session starts in (``start(..., engine=...)`` or
    ``start_from_engine``; none for an image of unknown origin or a baseline backend); ``"none"``;
    or the path of a falloff file (any backend). light_strength: each session scales the falloff
    by this times the strength its start frame shows (:func:`~loci.memory.frame_strength`, clipped
    to [0, 1]): Doom lights each sector at its own level, and one falloff per engine over-brightens
    the bright ones (BENCHMARKS.md); None: the falloff as fitted."""

    backend: str = "warp"
    steps: KeyStepConfig = field(
        default_factory=lambda: KeyStepConfig(move_m=0.25, turn_deg=5.0, pitch_deg=3.0)
    )
    memory: PointMemoryConfig = field(default_factory=PointMemoryConfig)
    warp: WarpConfig = field(default_factory=WarpConfig)
    fov_x_deg: float = 90.0
    collision_m: float | None = 0.3
    tokenizer_checkpoint: str | None = None
    world_checkpoint: str | None = None
    depth_checkpoint: str | None = None
    dit: DitConfig = field(default_factory=DitConfig)
    light: str = "auto"
    light_strength: float | None = 0.5

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; valid: {', '.join(BACKENDS)}")


class World:
    """Makes sessions. ``World(WorldConfig(backend="warp"))``; the engine backend also needs an engine."""

    def __init__(self, cfg: WorldConfig | None = None, engine: Engine | None = None):
        self.cfg = cfg or WorldConfig()
        self.engine = engine

    @property
    def steps(self) -> KeyStepConfig:
        return self.cfg.steps

    def _backend(self, engine: str | None = None) -> Backend:
        """``engine``: the engine of the session's world, if known (learned backends tune to it)."""
        if self.cfg.backend == "warp":
            return WarpBackend(self.cfg.warp)
        if self.cfg.backend == "copy-last":
            return CopyLastBackend()
        if self.cfg.backend in LEARNED_BACKENDS:
            cfg = self.cfg.dit
            if self.cfg.backend == "dit":  # the same model without any spatial memory
                cfg = dataclasses.replace(cfg, memory="none", composite=False, start_from_fill=None)
            backend = DitBackend(*self._learned(), cfg, engine)
            backend.name = self.cfg.backend
            return backend
        if self.engine is None:
            raise ValueError("the engine backend needs an engine: World(cfg, engine=make_engine(...))")
        return EngineBackend(self.engine)

    def _learned(self):
        """The world model and tokenizer (loaded once per World, shared by its sessions)."""
        if getattr(self, "_models", None) is None:
            from loci.training.tokenizer import load_tokenizer
            from loci.training.world import load_world_model

            world = self.cfg.world_checkpoint or SHIPPED_WORLD
            tokenizer = self.cfg.tokenizer_checkpoint or SHIPPED_TOKENIZER
            for what, path in (("world", world), ("tokenizer", tokenizer)):
                if not Path(path).is_file():
                    raise ValueError(
                        f"the {self.cfg.backend} backend needs a {what} checkpoint: {path} does not exist"
                    )
            self._models = (load_world_model(world), load_tokenizer(tokenizer))
            self._weights = {"world": file_digest(world), "tokenizer": file_digest(tokenizer)}
        return self._models

    def weights_id(self) -> dict[str, str] | None:
        """SHA-256 (hex) of the world-model and tokenizer files a learned backend runs (None for
        other backends): a learned session's KV cache and latent memory only make sense with them."""
        if self.cfg.backend not in LEARNED_BACKENDS:
            return None
        self._learned()
        return dict(self._weights)

    def start(
        self,
        image: np.ndarray,
        depth: np.ndarray | None = None,
        K: np.ndarray | None = None,
        pose: np.ndarray | None = None,
        engine: str | None = None,
    ) -> Session:
        """Start from an ``(H, W, 3)`` uint8 image with z-depth ``(H, W)`` (metres, 0 = unknown).

        ``K`` defaults to a ``fov_x_deg`` pinhole; ``pose`` (the start camera in the global frame)
        to the identity. Backends without a depth model need ``depth``. ``engine``: the engine whose
        world the image shows, if known (it picks that world's light falloff, see ``WorldConfig.light``).
        """
        if self.cfg.backend == "engine":
            raise ValueError("the engine backend starts from an engine: use start_from_engine(level, seed)")
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        if depth is None and self.cfg.backend == "copy-last":
            depth = np.zeros((h, w), np.float32)  # copying pixels needs no geometry
        source = {"kind": "image"} | ({"engine": engine} if engine else {})
        if depth is None:  # complete the 4D state of the start frame: predict its depth (DeepVerse)
            depth = self._depth_model().predict(image)
            source["depth"] = "predicted"
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != (h, w):
            raise ValueError(f"depth must be ({h}, {w}) like the image, got {depth.shape}")
        if not np.isfinite(depth).all() or (depth < 0).any():
            raise ValueError("depth must be finite and >= 0 (0 = unknown); NaN or negative values found")
        K = (
            intrinsics_from_fov((h, w), fov_x_deg=self.cfg.fov_x_deg).numpy()
            if K is None
            else np.asarray(K, np.float32)
        )
        if K.shape != (3, 3):
            raise ValueError(f"K must be (3, 3), got {K.shape}")
        pose = np.eye(4, dtype=np.float32) if pose is None else np.asarray(pose, np.float32)
        first = Frame(image, depth, pose, K, depth > 0, 0, "", {})
        return self._session(first, source)

    def _depth_model(self):
        """The monocular depth model (loaded once per World)."""
        if getattr(self, "_depth", None) is None:
            from loci.training.depth import load_depth_model

            path = self.cfg.depth_checkpoint or SHIPPED_DEPTH
            if not Path(path).is_file():
                raise ValueError(f"a start image without depth needs a depth model: {path} does not exist")
            self._depth = load_depth_model(path)
        return self._depth

    def start_from_engine(
        self, engine: Engine | str, level: str, seed: int, prelude: tuple[str, ...] = (), **engine_config: Any
    ) -> Session:
        """Start from an engine's first frame (``engine`` may be a name, built with ``engine_config``).

        With the engine backend the engine keeps producing the frames; otherwise its first frame
        (RGB, depth, K) seeds the memory and the backend takes over. ``prelude``: key steps the
        engine takes before the first frame.
        """
        if isinstance(engine, str):
            engine = make_engine(engine, **engine_config)
        obs = engine.reset(level, seed)
        for keys in prelude:  # steps taken before the session starts (e.g. turning to face open space)
            obs = engine.step(keys)
        source = {
            "kind": "engine",
            "engine": engine.name,
            "level": level,
            "seed": int(seed),
            "prelude": list(prelude),
        }
        if self.cfg.backend == "engine":
            self.engine = engine
        first = Frame(obs.rgb, obs.depth, np.eye(4, dtype=np.float32), obs.K, obs.depth > 0, 0, "", {})
        session = self._session(first, source)
        if isinstance(session.backend, EngineBackend):
            session.backend.origin = np.linalg.inv(obs.pose.astype(np.float64))
        return session

    def _light(self, engine: str | None) -> LightFalloff | None:
        """The light falloff of a session in ``engine``'s world (see ``WorldConfig.light``), loaded once."""
        setting = self.cfg.light
        if setting == "none":
            return None
        if setting == "auto":
            if self.cfg.backend not in LEARNED_BACKENDS or engine not in SHIPPED_LIGHT:
                return None
            setting = str(SHIPPED_LIGHT[engine])
        cache = self.__dict__.setdefault("_lights", {})
        if setting not in cache:
            cache[setting] = load_light_falloff(setting)
        return cache[setting]

    def _session(self, first: Frame, source: dict[str, Any]) -> Session:
        backend = self._backend(source.get("engine"))
        light = self._light(source.get("engine"))
        if light is not None and self.cfg.light_strength is not None:
            if "light_strength" not in source:  # measured on the start frame; a loaded session keeps it
                measured = self.cfg.light_strength * frame_strength(first.rgb, first.depth, light)
                source["light_strength"] = min(max(measured, 0.0), 1.0)
            light = light.scaled(source["light_strength"])
        memory = PointMemory(self.cfg.memory, light=light)
        steps = self.cfg.steps
        if isinstance(backend, EngineBackend):  # poses follow the engine; the controller only mirrors them
            steps = KeyStepConfig(
                move_m=steps.move_m, turn_deg=steps.turn_deg, pitch_deg=steps.pitch_deg, max_pitch_deg=89.9
            )
        controller = PoseController(steps, torch.from_numpy(first.pose.astype(np.float64)), mode="walk")
        session = Session(self, backend, memory, controller, first, source)
        session._remember(first)
        session.frame = backend.first(first, memory)
        return session

    @staticmethod
    def load_session(
        path: str,
        engine: Engine | None = None,
        world_checkpoint: str | None = None,
        tokenizer_checkpoint: str | None = None,
    ) -> Session:
        """Load a session saved by :meth:`Session.save` (engine sessions replay on ``engine``).

        A learned session continues only with the weights that made it: ``world_checkpoint`` /
        ``tokenizer_checkpoint`` point to them when they are no longer the saved config's.
        """
        from .persist import load_session

        return load_session(path, engine, world_checkpoint, tokenizer_checkpoint)
