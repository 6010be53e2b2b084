"""MiniWorld (Farama, pyglet + OpenGL) as a loci ground-truth engine, rendered headless through EGL.

Conventions (measured on miniworld 2.1.0, pyglet 1.5.31, Mesa llvmpipe; see the camera-check tests):
- World: MiniWorld's own metric frame, right-handed, **y up** (x, z on the floor). Poses are not
  rotated to any other world frame; a session rebases them onto its first frame.
- Camera: a true perspective camera (``gluPerspective``) with square pixels; ``agent.cam_fov_y`` is
  the **vertical** FOV, so ``fx = fy = (H/2) / tan(fov_y/2)``, ``cx = W/2``, ``cy = H/2``. Pitch is a
  real rotation of the camera (``agent.cam_pitch``, degrees, > 0 looks up), never a shear.
- Pose: camera-to-world, OpenCV axes, at ``agent.cam_pos`` (1.5 m above the floor):
  ``z = cam_dir`` (yaw ``agent.dir`` and pitch), ``x = z × up`` (horizontal), ``y = z × x`` (down).
- Depth: MiniWorld's z-depth in metres, read back from the same render as the RGB (one render per
  step). The depth buffer is 16-bit, so depth is quantised by about ``z² / 2600`` m (1 cm at 5 m,
  4 cm at 10 m). The far plane (100 m, the sky) and anything beyond ``far_m`` is 0 = unknown.
- Keys: W/S move ``move_m`` along the heading, A/D strafe ``move_m`` (``move_agent``'s drift),
  Q/E turn ``turn_deg`` (Q = left = MiniWorld's ``turn_left``), R/F pitch ``pitch_deg`` clamped to
  ``±max_pitch_deg``. Moves are horizontal whatever the pitch (walk mode). A move and a turn in one
  step follow the same arc as :class:`loci.control.PoseController` (half turn, chord, half turn). A
  move that would collide (agent radius 0.4 m) does not happen at all (no sliding): read the pose.
- Episodes never end: the engine drives ``move_agent``/``turn_agent`` directly, so MiniWorld's
  ``max_episode_steps``, rewards and goals play no part.
- Frames are rendered at ``render_scale`` × ``size`` (with MiniWorld's 4x MSAA) and area-averaged
  down; depth is downsampled edge-aware (:mod:`.resample`). Against a 4x-supersampled reference at
  120x160, ``render_scale=2`` frames reach 44.7 dB PSNR and ``render_scale=1`` 37.4 dB (15 views,
  5 levels), at ~4-6x the cost per step: 60-90 vs 230-490 steps/s on 2 loaded CPU cores (llvmpipe).
  The default is 2; use 1 for throughput.
- Speed: keep torch at one thread in a process that renders (``torch.set_num_threads(1)``): torch's
  OpenMP workers spinning next to llvmpipe made render + warp ~10x slower here.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loci.control.keys import KeyStepConfig

from .base import Engine, EngineUnavailable
from .observation import Observation
from .resample import downsample_depth, downsample_rgb

# Every MiniWorld-<name>-v0 of miniworld 2.1.0 resets and renders headless; the "Fast" variants
# (MazeS3Fast, OneRoomS6Fast) are left out: they differ from MazeS3/OneRoomS6 only in the step sizes
# of MiniWorld's own actions, which this engine replaces with its config.
LEVELS: tuple[str, ...] = (
    "OneRoom",
    "OneRoomS6",
    "Hallway",
    "ThreeRooms",
    "FourRooms",
    "Maze",
    "MazeS2",
    "MazeS3",
    "TMaze",
    "TMazeLeft",
    "TMazeRight",
    "YMaze",
    "YMazeLeft",
    "YMazeRight",
    "WallGap",
    "RoomObjects",
    "PickupObjects",
    "PutNext",
    "CollectHealth",
    "Sidewalk",
    "Sign",
)
Z_NEAR, Z_FAR = 0.04, 100.0  # MiniWorld's projection (miniworld.py render_obs)
HEIGHT_TOL_M = 1e-3  # a start pose's camera height must match the eye height within this
PITCH_TOL_DEG = 0.01  # a start pose may exceed max_pitch_deg by this (float32 rounding)
ROLL_TOL = 1e-3  # max |y component| of a start pose's camera x axis (MiniWorld cannot roll)
INSTALL_HINT = (
    "MiniWorld needs: pip install miniworld (brings pyglet<2 and gymnasium), and the system EGL/GL "
    "libraries: apt-get install --no-install-recommends libegl1 libegl-mesa0 libgbm1 libgl1 "
    "libgl1-mesa-dri libglu1-mesa libfreetype6"
)


@dataclass(frozen=True)
class MiniworldConfig:
    """MiniWorld engine settings.

    size: ``(H, W)`` of observations. render_scale: frames are rendered at ``render_scale × size``
    and downsampled (1 = render at ``size``). move_m: metres per W/S/A/D step (MiniWorld's
    ``forward_step``). turn_deg: yaw per Q/E. pitch_deg: pitch per R/F. max_pitch_deg: pitch limit.
    far_m: depth at or beyond this is unknown (0); MiniWorld's far plane (the sky) is at 100 m.
    """

    size: tuple[int, int] = (120, 160)
    render_scale: int = 2
    move_m: float = 0.15
    turn_deg: float = 10.0
    pitch_deg: float = 5.0
    max_pitch_deg: float = 60.0
    far_m: float = 99.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(self.size))  # a list from JSON metadata
        if len(self.size) != 2 or not all(isinstance(v, int) and v >= 8 for v in self.size):
            raise ValueError(f"MiniworldConfig.size must be (H, W) ints >= 8, got {self.size!r}")
        if not isinstance(self.render_scale, int) or not 1 <= self.render_scale <= 4:
            raise ValueError(
                f"MiniworldConfig.render_scale must be an int in [1, 4], got {self.render_scale!r}"
            )
        if not (isinstance(self.far_m, int | float) and 1 < self.far_m < Z_FAR):
            raise ValueError(f"MiniworldConfig.far_m must be in (1, {Z_FAR}), got {self.far_m!r}")
        self.key_steps  # noqa: B018 - validates move_m / turn_deg / pitch_deg / max_pitch_deg

    @property
    def key_steps(self) -> KeyStepConfig:
        """The same step sizes as a control-layer config (``key_delta(keys, cfg.key_steps)``)."""
        return KeyStepConfig(self.move_m, self.turn_deg, self.pitch_deg, self.max_pitch_deg)


def camera_pose(cam_pos: np.ndarray, cam_dir: np.ndarray) -> np.ndarray:
    """Camera-to-world ``(4, 4)`` float32, OpenCV axes, of a MiniWorld camera (y-up world)."""
    f = np.asarray(cam_dir, np.float64)
    f = f / np.linalg.norm(f)
    x = np.cross(f, (0.0, 1.0, 0.0))
    x /= np.linalg.norm(x)
    pose = np.eye(4, dtype=np.float32)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, np.cross(f, x), f, cam_pos
    return pose


def camera_intrinsics(fov_y_deg: float, size: tuple[int, int]) -> np.ndarray:
    """``K`` ``(3, 3)`` float32 at ``size = (H, W)`` of a vertical FOV (square pixels, centred)."""
    from loci.geometry import intrinsics_from_fov  # torch: called once per FOV, never per step

    return intrinsics_from_fov(size, fov_y_deg=float(fov_y_deg)).numpy().astype(np.float32)


def _import_miniworld() -> Any:
    """Import gymnasium + miniworld headless (EGL); returns the gymnasium module.

    ``PYOPENGL_PLATFORM=egl`` and ``pyglet.options["headless"]`` must be set before miniworld (or
    ``pyglet.gl``) is first imported: miniworld/entity.py imports ``pyglet.gl``, which opens a context.
    """
    os.environ["PYOPENGL_PLATFORM"] = "egl"
    try:
        import pyglet

        if "pyglet.gl" not in sys.modules:
            pyglet.options["headless"] = True
        elif not pyglet.options["headless"]:
            raise EngineUnavailable(
                "pyglet.gl was imported without headless=True; import loci's engine first"
            )
        import gymnasium
        import miniworld  # noqa: F401 - registers MiniWorld-*-v0

        probe = pyglet.window.Window(width=1, height=1, visible=False)  # fails without EGL
        probe.close()
        pyglet.text.Label("probe", font_name="Arial")  # MiniWorldEnv makes one: needs libfreetype
    except EngineUnavailable:
        raise
    except Exception as e:  # ImportError, a missing libEGL/libGL, or no EGL config/device
        raise EngineUnavailable(f"{INSTALL_HINT} ({type(e).__name__}: {e})") from e
    return gymnasium


def _free_framebuffer(fb: Any) -> None:
    """Delete a miniworld ``FrameBuffer``'s FBOs and their textures/renderbuffers (~5 MB per level
    at 320x240: MiniWorld never frees them, and they live in pyglet's shared GL context)."""
    from ctypes import byref

    from pyglet import gl

    for fbo in (fb.multi_fbo, fb.final_fbo):
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, fbo)
        for attachment in (gl.GL_COLOR_ATTACHMENT0, gl.GL_DEPTH_ATTACHMENT):
            kind, name = gl.GLint(0), gl.GLint(0)
            query = gl.glGetFramebufferAttachmentParameteriv
            query(gl.GL_FRAMEBUFFER, attachment, gl.GL_FRAMEBUFFER_ATTACHMENT_OBJECT_TYPE, byref(kind))
            query(gl.GL_FRAMEBUFFER, attachment, gl.GL_FRAMEBUFFER_ATTACHMENT_OBJECT_NAME, byref(name))
            if kind.value == gl.GL_TEXTURE:
                gl.glDeleteTextures(1, byref(gl.GLuint(name.value)))
            elif kind.value == gl.GL_RENDERBUFFER:
                gl.glDeleteRenderbuffers(1, byref(gl.GLuint(name.value)))
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        gl.glDeleteFramebuffers(1, byref(fbo))


class MiniworldEngine(Engine):
    """MiniWorld levels headless: ``reset(level, seed, start_pose)``, ``step(keys)``; see the module doc."""

    name = "miniworld"

    def __init__(self, config: MiniworldConfig | None = None) -> None:
        self.cfg = config or MiniworldConfig()
        self._gym = _import_miniworld()
        self._env: Any = None  # the unwrapped MiniWorldEnv
        self._level: str | None = None
        self._index = -1  # -1: no episode
        self._K: dict[float, np.ndarray] = {}

    @property
    def config(self) -> MiniworldConfig:
        return self.cfg

    def levels(self) -> Sequence[str]:
        return LEVELS

    # -- episodes ----------------------------------------------------------------------------------
    def reset(self, level: str, seed: int, start_pose: np.ndarray | None = None) -> Observation:
        """Start ``level``; ``seed`` sets the layout, textures and start. ``start_pose`` ``(4, 4)``
        (camera-to-world, OpenCV axes, MiniWorld metres) sets the position, yaw and pitch instead; it
        must be level (no roll), at the eye height (1.5 m), inside a room and free of collisions."""
        self.check_level(level)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        if level != self._level:
            self._close_env()
            h, w = self.cfg.size
            s = self.cfg.render_scale
            with contextlib.redirect_stdout(io.StringIO()):  # "Falling back to num_samples=4"
                env = self._gym.make(
                    f"MiniWorld-{level}-v0",
                    obs_width=w * s,
                    obs_height=h * s,
                    window_width=32,  # the human-view frame buffer is never used
                    window_height=32,
                    disable_env_checker=True,
                )
            self._env, self._level = env.unwrapped, level
        self._index = -1
        self._env.reset(seed=int(seed))
        if start_pose is not None:
            self._place(start_pose)
        self._index = 0
        return self._observe("")

    def step(self, action: str) -> Observation:
        """Apply one step of keys (``"W"``, ``"WQ"``, ``"."`` ...) and return the new frame."""
        keys = self.check_action(action)
        if self._index < 0:
            raise RuntimeError("MiniworldEngine.step() before reset()")
        cfg, env = self.cfg, self._env
        fwd = cfg.move_m * (("W" in keys) - ("S" in keys))
        right = cfg.move_m * (("D" in keys) - ("A" in keys))
        yaw = cfg.turn_deg * (("Q" in keys) - ("E" in keys))
        pitch = cfg.pitch_deg * (("R" in keys) - ("F" in keys))
        if yaw and (fwd or right):  # the arc of se3_exp: half turn, chord, half turn
            half = math.radians(yaw) / 2
            chord = math.sin(half) / half
            env.turn_agent(yaw / 2)
            env.move_agent(fwd * chord, right * chord)
            env.turn_agent(yaw / 2)
        elif yaw:
            env.turn_agent(yaw)
        elif fwd or right:
            env.move_agent(fwd, right)  # returns False (and stays put) on a collision
        if pitch:
            lim = cfg.max_pitch_deg
            env.agent.cam_pitch = float(np.clip(env.agent.cam_pitch + pitch, -lim, lim))
        self._index += 1
        return self._observe(keys)

    def close(self) -> None:
        """Free the level's GL window/context. The engine can be reset again afterwards."""
        self._close_env()

    # -- internals ---------------------------------------------------------------------------------
    def _close_env(self) -> None:
        env, self._env, self._level, self._index = self._env, None, None, -1
        if env is not None:
            env.close()
            env.shadow_window.switch_to()
            for fb in (env.obs_fb, env.vis_fb):  # GL objects outlive the env (shared context)
                _free_framebuffer(fb)
            env.shadow_window.close()

    def _observe(self, action: str) -> Observation:
        env, s = self._env, self.cfg.render_scale
        rgb = env.render_obs()  # also resolves the depth buffer of the same render
        depth = env.obs_fb.get_depth_map(Z_NEAR, Z_FAR)[..., 0]
        depth = np.where(depth < self.cfg.far_m, depth, 0).astype(np.float32)
        if s > 1:
            rgb, depth = downsample_rgb(rgb, s), downsample_depth(depth, s)
        agent = env.agent
        fov = float(agent.cam_fov_y)
        if fov not in self._K:
            self._K[fov] = camera_intrinsics(fov, self.cfg.size)
        pose = camera_pose(agent.cam_pos, agent.cam_dir)
        return Observation(rgb, depth, self._K[fov].copy(), pose, action, self._index)

    def _place(self, start_pose: np.ndarray) -> None:
        """Put the agent at a camera pose ``(4, 4)``; ``ValueError`` if MiniWorld cannot stand there."""
        T = np.asarray(start_pose, dtype=np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise ValueError(f"start_pose must be a finite (4, 4) matrix, got shape {T.shape}")
        R = T[:3, :3]
        if not np.allclose(T[3], (0, 0, 0, 1), atol=1e-6) or not np.allclose(R.T @ R, np.eye(3), atol=1e-3):
            raise ValueError("start_pose must be a rigid camera-to-world transform")
        if np.linalg.det(R) < 0:
            raise ValueError("start_pose's rotation must have det +1 (OpenCV axes are right-handed)")
        if abs(R[1, 0]) > ROLL_TOL:
            raise ValueError(
                "start_pose has roll (its camera x axis is not horizontal); MiniWorld cannot roll"
            )
        f = R[:, 2]
        pitch = math.degrees(math.asin(float(np.clip(f[1], -1, 1))))
        lim = self.cfg.max_pitch_deg
        if abs(pitch) > lim + PITCH_TOL_DEG:
            raise ValueError(f"start_pose pitch {pitch:.1f}° is beyond ±{lim}°")
        pitch = min(max(pitch, -lim), lim)  # a float32 pose at the limit may be a hair beyond it
        env, agent = self._env, self._env.agent
        yaw = math.atan2(-f[2], f[0])  # MiniWorld's heading: dir_vec = (cos dir, 0, -sin dir)
        cam = T[:3, 3]
        if abs(cam[1] - agent.cam_height) > HEIGHT_TOL_M:
            raise ValueError(
                f"start_pose camera height {cam[1]:.3f} m must be the eye height {agent.cam_height} m"
            )
        heading = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
        pos = np.array([cam[0], 0.0, cam[2]]) - agent.cam_fwd_disp * heading
        if not any(room.point_inside(pos) for room in env.rooms):
            raise ValueError(
                f"start_pose position {pos[[0, 2]].round(3).tolist()} (x, z) is outside the rooms"
            )
        if env.intersect(agent, pos, agent.radius):
            raise ValueError(f"start_pose position {pos[[0, 2]].round(3).tolist()} (x, z) collides")
        agent.pos, agent.dir, agent.cam_pitch = pos, yaw, pitch
