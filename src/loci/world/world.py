"""World = a backend + a memory + a controller, under a preset. ``start(...) -> Session``.

Saving and loading sessions is a layer above this one (:mod:`loci.world.persist`).
"""

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
from loci.models import SHIPPED_DEPTH, SHIPPED_LIGHT, SHIPPED_STUDENT, SHIPPED_TOKENIZER, SHIPPED_WORLD
from loci.models.loading import load_depth_model, load_tokenizer, load_world_model

from .backends import BackendContext, WarpConfig, backend_spec
from .backends.learned import DitConfig
from .frame import Frame
from .preset import WorldPreset, load_preset, preset_for
from .session import Session


@dataclass(frozen=True)
class WorldConfig:
    """backend: one of :data:`~loci.world.backends.BACKENDS`. preset: the tuned values the sessions
    run with (:mod:`loci.world.preset`): a shipped preset's name or a ``.json`` path; None: the
    preset of the engine each session starts in. steps: key step sizes for pose-driven backends.
    memory: point-memory settings. warp: hole filling. fov_x_deg: default horizontal FOV when
    ``start`` gets no K. collision_m: clearance kept ahead of a forward step (None: no collisions).
    tokenizer_checkpoint / world_checkpoint: the learned backends' weights (None: the shipped ones).
    dit: their sampling and memory settings (fields at None take the preset's). depth_checkpoint:
    the monocular depth model that completes a start image given without depth (None: the shipped
    one). light: how the memory re-lights remembered colours for the distance they are shown at
    (:class:`~loci.memory.LightFalloff`): ``"auto"``, the falloff shipped for the engine a learned
    backend's session starts in (none for an image of unknown origin or a baseline backend);
    ``"none"``; or the path of a falloff file (any backend). light_strength: each session scales
    the falloff by this times the strength its start frame shows (clipped to [0, 1]; Doom lights
    each sector at its own level, and one falloff per engine over-brightens the bright ones);
    ``"preset"``: the preset's; None: the falloff as fitted."""

    backend: str = "warp"  # a registered name (loci.world.backends)
    preset: str | None = None
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
    light_strength: float | str | None = "preset"

    def __post_init__(self) -> None:
        backend_spec(self.backend)  # an unknown name raises, naming the registered ones
        if isinstance(self.light_strength, str) and self.light_strength != "preset":
            raise ValueError(
                f"light_strength must be a number, None or 'preset', got {self.light_strength!r}"
            )


class World:
    """Makes sessions: ``World(WorldConfig(backend="warp")).start(image, depth)`` or
    ``.start_from_engine("vizdoom", "MAP01", seed)``. Learned weights load once per World."""

    def __init__(self, cfg: WorldConfig | None = None):
        self.cfg = cfg or WorldConfig()
        self.spec = backend_spec(self.cfg.backend)
        self._models: tuple[Any, Any] | None = None
        self._weights: dict[str, str] | None = None
        self._depth = None
        self._lights: dict[str, LightFalloff] = {}

    @property
    def steps(self) -> KeyStepConfig:
        return self.cfg.steps

    def preset(self, engine: str | None) -> WorldPreset:
        """The preset of a session in ``engine``'s world (``WorldConfig.preset`` when set)."""
        return load_preset(self.cfg.preset or preset_for(engine))

    def learned_models(self):
        """The world model and tokenizer of a learned backend (loaded once, shared by the sessions)."""
        if self._models is None:
            shipped = SHIPPED_STUDENT if self.spec.weights == "student" else SHIPPED_WORLD
            world = self.cfg.world_checkpoint or shipped
            tokenizer = self.cfg.tokenizer_checkpoint or SHIPPED_TOKENIZER
            for what, path in (("world", world), ("tokenizer", tokenizer)):
                if not Path(path).is_file():
                    hint = (
                        " (no student ships yet: distil one with `loci train student --config "
                        "configs/student_doom_miniworld.json` and pass --world-checkpoint)"
                        if path == SHIPPED_STUDENT
                        else ""
                    )
                    raise ValueError(
                        f"the {self.cfg.backend} backend needs a {what} checkpoint: {path} does not exist{hint}"
                    )
            self._models = (load_world_model(world), load_tokenizer(tokenizer))
            self._weights = {"world": file_digest(world), "tokenizer": file_digest(tokenizer)}
        return self._models

    def weights_id(self) -> dict[str, str] | None:
        """SHA-256 (hex) of the world-model and tokenizer files a learned backend runs (None for
        other backends): a learned session's KV cache and latent memory only make sense with them."""
        if not self.spec.learned:
            return None
        self.learned_models()
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
        to the identity. Without ``depth`` the depth net predicts it. ``engine``: the engine whose
        world the image shows, if known (it picks the preset and the light falloff).
        """
        if not self.spec.starts_from_image:
            raise ValueError(
                f"the {self.cfg.backend} backend starts from an engine: use start_from_engine(engine, level, seed)"
            )
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        if depth is None and not self.spec.needs_depth:
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
        return self.resume(Frame(image, depth, pose, K, depth > 0, 0, "", {}), source)

    def _depth_model(self):
        """The monocular depth model (loaded once per World)."""
        if self._depth is None:
            path = self.cfg.depth_checkpoint or SHIPPED_DEPTH
            if not Path(path).is_file():
                raise ValueError(f"a start image without depth needs a depth model: {path} does not exist")
            self._depth = load_depth_model(path)
        return self._depth

    def start_from_engine(
        self, engine: Engine | str, level: str, seed: int, prelude: tuple[str, ...] = (), **engine_config: Any
    ) -> Session:
        """Start from an engine's first frame (``engine`` may be a name, built with ``engine_config``).

        A backend driven by keys (the engine backend) keeps stepping the engine; any other takes
        the first frame (RGB, depth, K) into its memory and goes on alone. ``prelude``: key steps
        the engine takes before the first frame.
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
        first = Frame(obs.rgb, obs.depth, np.eye(4, dtype=np.float32), obs.K, obs.depth > 0, 0, "", {})
        return self.resume(first, source, engine, obs.pose)

    def _light(self, engine: str | None) -> LightFalloff | None:
        """The light falloff of a session in ``engine``'s world (see ``WorldConfig.light``), loaded once."""
        setting = self.cfg.light
        if setting == "none":
            return None
        if setting == "auto":
            if not self.spec.learned or engine not in SHIPPED_LIGHT:
                return None
            setting = str(SHIPPED_LIGHT[engine])
        if setting not in self._lights:
            self._lights[setting] = load_light_falloff(setting)
        return self._lights[setting]

    def resume(
        self,
        first: Frame,
        source: dict[str, Any],
        engine: Engine | None = None,
        engine_pose: np.ndarray | None = None,
    ) -> Session:
        """A session whose current frame is ``first`` (in its memory), started from ``source``
        (``{"kind": "image"}`` or an engine's level and seed; ``light_strength`` once measured).
        ``engine`` / ``engine_pose`` ``(4, 4)``: the engine of an engine start and its start pose."""
        preset = self.preset(source.get("engine"))
        ctx = BackendContext(self.cfg, preset, engine, engine_pose, self.learned_models)
        backend = self.spec.build(ctx)
        light = self._light(source.get("engine"))
        strength = preset.light_strength if self.cfg.light_strength == "preset" else self.cfg.light_strength
        if light is not None and strength is not None:
            if "light_strength" not in source:  # measured on the start frame; a loaded session keeps it
                measured = strength * frame_strength(first.rgb, first.depth, light, preset.strength)
                source["light_strength"] = min(max(measured, 0.0), 1.0)
            light = light.scaled(source["light_strength"])
        memory = PointMemory(self.cfg.memory, light=light)
        controller = PoseController(
            backend.controller_steps(self.cfg.steps),
            torch.from_numpy(first.pose.astype(np.float64)),
            mode="walk",
        )
        return Session(self.cfg, preset, backend, memory, controller, first, source, self.weights_id())


def with_checkpoints(cfg: WorldConfig, world: str | None, tokenizer: str | None) -> WorldConfig:
    """``cfg`` with the learned weights' paths replaced where given."""
    changes = {"world_checkpoint": world, "tokenizer_checkpoint": tokenizer}
    return dataclasses.replace(cfg, **{k: str(v) for k, v in changes.items() if v is not None})
