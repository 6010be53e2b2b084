"""ViZDoom (ZDoom 2.8 software renderer) as a loci ground-truth engine.

Conventions (measured on vizdoom 1.3.2 with freedoom2.wad; guarded by tests/engines/test_vizdoom.py):
- Units: Doom map units -> metres with ``MAP_UNITS_PER_METRE = 32`` (the player is 56 units tall,
  about 1.75 m; the eye sits 41 units above the floor).
- Camera: the software renderer never pitches the camera. Looking up/down slides the image
  (a shear), so the pose stays level and pitch lives in ``K``: ``fx = W/2`` (90° horizontal FOV),
  ``fy = 1.2 fx`` (Doom's pixels are 1.2x taller), ``cx = W/2``, ``cy = H/2 - fy tan(PITCH)``
  (ViZDoom's ``PITCH < 0`` is looking up, so looking up moves the horizon down and ``cy`` grows).
- Pose: camera-to-world, OpenCV axes, Doom world frame (x east, y north, z up) in metres:
  ``x_cam = (sin a, -cos a, 0)``, ``y_cam = (0, 0, -1)``, ``z_cam = (cos a, sin a, 0)`` with ``a`` =
  ``ANGLE`` (0 = east, counter-clockwise), at ``CAMERA_POSITION_X/Y/Z``.
- Depth: the uint8 depth buffer is z-depth, linear in the value. Calibrated at 320x240 by walking
  straight at a wall whose position is known from where the player stops (200 tics, residual
  <= 0.5 level; the renderer's flat code gives 7.159 d + 10.9, consistent) and confirmed by warp
  sweeps: ``units = 7.135 d + 9.15``. The wall scale tops out at 127 at 320x240, so ``d == 0``
  (nearer than ~9 units) and ``d >= 127`` (~915 units, sky) are unknown (0). One level is ~7 units
  (~0.22 m): depth is coarse. Frames are always rendered at 320x240 and downsampled after (the
  buffer saturates even earlier at lower render resolutions).
- Keys: Q/E turn exactly ``turn_deg`` (``TURN_LEFT_RIGHT_DELTA``, quantised to 360/65536°), R/F look
  ``pitch_deg`` (``LOOK_UP_DOWN_DELTA``, clamped by the engine to PITCH in [-32, 56]), both in the
  first tic of a step; W/S/A/D hold Doom's movement buttons for the whole step. Movement has
  momentum (a step from rest moves ~9.5 units, a long walk ~33 units per 4-tic step, and the player
  drifts on after release): never assume a displacement, read ``Observation.pose``.
- An episode ends when the player dies (monsters) or walks over an exit; ``step`` then raises
  :class:`EpisodeEnded` and the caller resets.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loci.control.keys import parse_keys

from .base import Engine, EngineUnavailable, EpisodeEnded
from .observation import Observation
from .resample import downsample_rgb
from .vizdoom_maps import PLAYER_RADIUS, LevelGeometry, wad_levels

MAP_UNITS_PER_METRE = 32.0
RENDER_SIZE = (240, 320)  # (H, W): the resolution whose depth scale is calibrated
DEPTH_SCALE, DEPTH_OFFSET, DEPTH_SATURATED = 7.135, 9.15, 127  # units = scale * d8 + offset
FY_OVER_FX = 1.2  # Doom's non-square pixels (ZDoom YaspectMul at 4:3)
EYE_HEIGHT = 41.0  # view height of a standing player without bob (map units)
START_SKIP_TICS = 7  # after an episode starts, tics 2..8 ignore all input
MAX_SETTLE_TICS = 40  # tics to wait for the view height to recover after a teleport
PITCH_RANGE = (-32.0, 56.0)
INSTALL_HINT = "ViZDoom is not installed: pip install vizdoom (or pip install 'loci[engines]')"


@dataclass(frozen=True)
class VizdoomConfig:
    """ViZDoom engine settings.

    size: ``(H, W)`` of observations; ``(240, 320)`` divided by a whole factor (4:3).
    wad: a WAD in the vizdoom package folder, or a path. monsters: ``False`` = static scene.
    tics_per_step: Doom tics (1/35 s) one step lasts. turn_deg / pitch_deg: yaw per Q/E and pitch
    per R/F step. objects_info: fill :meth:`VizdoomEngine.things` (slower steps).
    """

    size: tuple[int, int] = (120, 160)
    wad: str = "freedoom2.wad"
    monsters: bool = False
    tics_per_step: int = 4
    turn_deg: float = 10.0
    pitch_deg: float = 5.0
    objects_info: bool = False

    def __post_init__(self) -> None:
        h, w = self.size
        if (
            not all(isinstance(v, int) and v > 0 for v in (h, w))
            or RENDER_SIZE[0] % h
            or RENDER_SIZE[0] // h != RENDER_SIZE[1] // w
            or RENDER_SIZE[1] % w
        ):
            raise ValueError(
                f"VizdoomConfig.size must be (240, 320) divided by a whole factor, got {self.size}"
            )
        if not isinstance(self.tics_per_step, int) or self.tics_per_step < 1:
            raise ValueError(f"VizdoomConfig.tics_per_step must be an int >= 1, got {self.tics_per_step!r}")
        for name, hi in (("turn_deg", 180.0), ("pitch_deg", 88.0)):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0 < v <= hi):
                raise ValueError(f"VizdoomConfig.{name} must be in (0, {hi}], got {v!r}")

    @property
    def factor(self) -> int:
        """Downsampling factor from the 320x240 render."""
        return RENDER_SIZE[0] // self.size[0]


def doom_intrinsics(pitch_deg: float, size: tuple[int, int]) -> np.ndarray:
    """``K`` ``(3, 3)`` float32 of a ViZDoom view with ``PITCH = pitch_deg`` at ``size = (H, W)``."""
    h, w = size
    fx = w / 2
    fy = FY_OVER_FX * fx
    return np.array(
        [[fx, 0, w / 2], [0, fy, h / 2 - fy * math.tan(math.radians(pitch_deg))], [0, 0, 1]], np.float32
    )


def doom_pose(x: float, y: float, z: float, angle_deg: float) -> np.ndarray:
    """Camera-to-world ``(4, 4)`` float32 (metres) of an eye at map units ``(x, y, z)`` facing ``angle_deg``."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    k = 1 / MAP_UNITS_PER_METRE
    return np.array(
        [[s, 0, c, x * k], [-c, 0, s, y * k], [0, -1, 0, z * k], [0, 0, 0, 1]],
        np.float32,
    )


def _depth_table() -> np.ndarray:
    """``(256,)`` float32: uint8 depth level -> metres (0 where unknown)."""
    d = np.arange(256, dtype=np.float64)
    table = (DEPTH_SCALE * d + DEPTH_OFFSET) / MAP_UNITS_PER_METRE
    table[(d == 0) | (d >= DEPTH_SATURATED)] = 0
    return table.astype(np.float32)


DEPTH_TABLE = _depth_table()


def doom_depth(d8: np.ndarray, factor: int = 1, rel_tol: float = 0.05) -> np.ndarray:
    """uint8 depth buffer ``(H, W)`` -> float32 metres ``(H/f, W/f)``, 0 = unknown.

    Gives what :func:`loci.engines.resample.downsample_depth` gives on ``DEPTH_TABLE[d8]`` (up to
    float rounding of block means), ~20x faster: min, max and sums run on the uint8 levels of the
    ``f×f`` strided sub-images, and only the reduced arrays are converted to metres (the depth map
    is linear in the level). Levels are shifted so unknown ones (0 and >= 127) sort above every
    known one: ``c = d - 1`` and ``e = 126 - d`` (uint8, wrapping) are <= 125 exactly where known.
    """
    if factor == 1:
        return DEPTH_TABLE[d8]
    f, top = factor, DEPTH_SATURATED - 1
    c = d8 - np.uint8(1)  # known: 0..125, min -> nearest known level
    e = np.uint8(top) - d8  # known: 0..125, min -> farthest known level
    views = [(i, j) for i in range(f) for j in range(f)]
    lo_c = functools.reduce(np.minimum, (c[i::f, j::f] for i, j in views))
    hi_c = functools.reduce(np.maximum, (c[i::f, j::f] for i, j in views))
    lo_e = functools.reduce(np.minimum, (e[i::f, j::f] for i, j in views))
    acc = np.uint16 if f * f * 255 < 2**16 else np.uint32
    total = functools.reduce(np.add, (d8[i::f, j::f].astype(acc) for i, j in views))
    lo = DEPTH_TABLE[lo_c + np.uint8(1)]  # lo_c + 1 wraps back to the unknown level when none is known
    hi = DEPTH_TABLE[np.uint8(top) - lo_e]
    mean = (DEPTH_SCALE * (total / (f * f)) + DEPTH_OFFSET) / MAP_UNITS_PER_METRE
    smooth = (hi_c < top) & (hi <= lo * (1 + rel_tol))  # every pixel known, no depth edge
    return np.where(smooth, mean.astype(np.float32), np.where(lo_c < top, lo, np.float32(0)))


class VizdoomEngine(Engine):
    """Doom levels of a WAD through ViZDoom: ``reset(level, seed, start_pose)``, ``step(keys)``."""

    name = "vizdoom"

    def __init__(self, config: VizdoomConfig | None = None) -> None:
        try:
            import vizdoom
        except ImportError as e:
            raise EngineUnavailable(INSTALL_HINT) from e
        self.cfg = config or VizdoomConfig()
        self._vzd = vizdoom
        wad = Path(self.cfg.wad)
        self._wad = wad if wad.is_file() else Path(os.path.dirname(vizdoom.__file__)) / self.cfg.wad
        if not self._wad.is_file():
            raise ValueError(f"WAD {self.cfg.wad!r} not found (looked in the vizdoom package too)")
        self._levels = wad_levels(self._wad)
        self._geometry: dict[str, LevelGeometry] = {}
        self._game = None
        self._level: str | None = None
        self._index = -1
        self._noop = [0] * 6

    # -- game set-up -------------------------------------------------------------------------------
    def _make_game(self, level: str):
        vzd, cfg = self._vzd, self.cfg
        g = vzd.DoomGame()
        g.set_doom_game_path(str(self._wad))
        g.set_doom_map(level)
        g.set_screen_resolution(vzd.ScreenResolution.RES_320X240)
        g.set_screen_format(vzd.ScreenFormat.RGB24)
        g.set_depth_buffer_enabled(True)
        g.set_window_visible(False)
        g.set_sound_enabled(False)
        for off in (
            g.set_render_hud,
            g.set_render_weapon,
            g.set_render_crosshair,
            g.set_render_messages,
            g.set_render_particles,
            g.set_render_effects_sprites,
            g.set_render_decals,
            g.set_render_screen_flashes,
        ):
            off(False)
        gv, b = vzd.GameVariable, vzd.Button
        g.set_available_game_variables(
            [gv.CAMERA_POSITION_X, gv.CAMERA_POSITION_Y, gv.CAMERA_POSITION_Z, gv.ANGLE, gv.PITCH]
        )
        g.set_available_buttons(
            [
                b.MOVE_FORWARD,
                b.MOVE_BACKWARD,
                b.MOVE_LEFT,
                b.MOVE_RIGHT,
                b.TURN_LEFT_RIGHT_DELTA,
                b.LOOK_UP_DOWN_DELTA,
            ]
        )
        g.set_button_max_value(b.TURN_LEFT_RIGHT_DELTA, 360)
        g.set_button_max_value(b.LOOK_UP_DOWN_DELTA, 180)
        g.set_objects_info_enabled(cfg.objects_info)
        if not cfg.monsters:
            g.add_game_args("-nomonsters")
        g.add_game_args("+movebob 0")  # no view bob: the eye stays exactly EYE_HEIGHT above the floor
        g.set_episode_start_time(1)
        g.set_mode(vzd.Mode.PLAYER)
        g.init()
        return g

    def _geometry_of(self, level: str) -> LevelGeometry:
        if level not in self._geometry:
            self._geometry[level] = LevelGeometry.from_wad(self._wad, level)
        return self._geometry[level]

    # -- Engine API --------------------------------------------------------------------------------
    def levels(self) -> Sequence[str]:
        return self._levels

    def reset(self, level: str, seed: int, start_pose: np.ndarray | None = None) -> Observation:
        """New episode on ``level``; ``seed`` picks a random standing point and yaw (reproducibly).

        ``start_pose`` ``(4, 4)`` (metres, Doom world frame) overrides them: the player is put at its
        x, y (truncated to whole map units; z comes from the floor) facing its yaw; its pitch and roll
        are ignored (the view starts level). Raises ``ValueError`` if no player can stand there.
        """
        self.check_level(level)
        geometry = self._geometry_of(level)
        if start_pose is not None:
            starts, yaw = iter([self._check_start(start_pose, geometry)]), self._start_yaw(start_pose)
        else:
            rng = np.random.default_rng(seed)
            yaw = float(rng.uniform(0.0, 360.0))
            starts = geometry.random_starts(rng)
        if self._game is None:
            self._game = self._make_game(level)
        elif level != self._level:
            self._game.set_doom_map(level)  # a new map in the running game: ~40 ms, not a re-init
        self._level = level
        self._index = -1
        for _ in range(20):
            x, y, floor = next(starts, (None, None, None))
            if x is None:
                break
            if self._start_at(x, y, floor, yaw, seed):
                self._index = 0
                return self._observe("")
        raise ValueError(f"cannot stand at a start point on {level} (start_pose={start_pose is not None})")

    def step(self, action: str) -> Observation:
        """Hold ``action``'s keys for ``tics_per_step`` tics (turn/look in the first) and observe."""
        keys = self.check_action(action)
        if self._index < 0 or self._game is None:
            raise RuntimeError("VizdoomEngine.step() called before reset(); call reset(level, seed) first")
        held = parse_keys(keys)
        cfg, g = self.cfg, self._game
        move = [int("W" in held), int("S" in held), int("A" in held), int("D" in held)]
        if move[0] and move[1]:
            move[0] = move[1] = 0
        if move[2] and move[3]:
            move[2] = move[3] = 0
        turn = cfg.turn_deg * (("E" in held) - ("Q" in held))  # delta > 0 turns right
        look = cfg.pitch_deg * (("R" in held) - ("F" in held))  # delta > 0 looks up
        n = cfg.tics_per_step
        g.set_action([*move, turn, look])
        g.advance_action(1, n == 1)
        if n > 1:
            g.set_action([*move, 0, 0])
            g.advance_action(n - 1, True)
        if g.is_episode_finished():
            self._index = -1
            raise EpisodeEnded(f"the Doom episode on {self._level} ended (death or exit); call reset()")
        self._index += 1
        return self._observe(keys)

    def close(self) -> None:
        if self._game is not None:
            self._game.close()
            self._game = None
        self._level, self._index = None, -1

    def things(self) -> list[tuple[str, float, float, float]]:
        """``(name, x, y, z)`` in metres of every thing in the level now (needs ``objects_info``)."""
        if not self.cfg.objects_info:
            raise RuntimeError("VizdoomConfig.objects_info=True is needed for things()")
        if self._game is None or self._index < 0:
            raise RuntimeError("things() needs a running episode; call reset() first")
        k = 1 / MAP_UNITS_PER_METRE
        return [
            (o.name, o.position_x * k, o.position_y * k, o.position_z * k)
            for o in self._game.get_state().objects
        ]

    # -- internals ---------------------------------------------------------------------------------
    def _start_at(self, x: float, y: float, floor: float, yaw: float, seed: int) -> bool:
        """Restart the episode, teleport to ``(x, y)`` facing ``yaw``; True if the player stands there."""
        g = self._game
        g.set_seed(int(seed) % (2**31))  # monsters' randomness follows the seed too
        g.new_episode()  # restarts the map: level time, doors and lifts back to their initial state
        g.advance_action(START_SKIP_TICS, False)
        g.send_game_command(f"warp {int(x)} {int(y)}")
        gv = self._vzd.GameVariable
        g.set_action([0, 0, 0, 0, 0, 0])
        g.advance_action(1, True)
        g.set_action([0, 0, 0, 0, -_wrap(yaw - g.get_game_variable(gv.ANGLE)), 0])
        g.advance_action(1, True)
        g.set_action(self._noop)
        for _ in range(MAX_SETTLE_TICS):
            if abs(g.get_game_variable(gv.VIEW_HEIGHT) - EYE_HEIGHT) < 1e-3:
                break
            g.advance_action(1, True)
        ok = (
            abs(g.get_game_variable(gv.POSITION_X) - int(x)) < 1
            and abs(g.get_game_variable(gv.POSITION_Y) - int(y)) < 1
            and abs(g.get_game_variable(gv.POSITION_Z) - floor) < 1
            and abs(g.get_game_variable(gv.VIEW_HEIGHT) - EYE_HEIGHT) < 1e-3
        )
        return ok and not g.is_episode_finished()

    @staticmethod
    def _check_start(start_pose: np.ndarray, geometry: LevelGeometry) -> tuple[float, float, float]:
        T = np.asarray(start_pose, dtype=np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise ValueError(
                f"start_pose must be a finite (4, 4) camera-to-world matrix, got shape {T.shape}"
            )
        p = np.trunc(T[:2, 3] * MAP_UNITS_PER_METRE)[None]
        sector = int(geometry.standing_sector(p, PLAYER_RADIUS)[0])
        if sector < 0:
            raise ValueError(
                f"start_pose position ({T[0, 3]:.2f}, {T[1, 3]:.2f}) m is not a valid standing point "
                "(outside the map, in a wall, without headroom or on a damaging floor)"
            )
        return float(p[0, 0]), float(p[0, 1]), float(geometry.floor[sector])

    @staticmethod
    def _start_yaw(start_pose: np.ndarray) -> float:
        fwd = np.asarray(start_pose, dtype=np.float64)[:3, 2]  # camera z axis in the world
        if math.hypot(fwd[0], fwd[1]) < 1e-6:
            raise ValueError("start_pose looks straight up or down; its yaw is undefined")
        return math.degrees(math.atan2(fwd[1], fwd[0]))

    def _observe(self, action: str) -> Observation:
        state = self._game.get_state()
        x, y, z, angle, pitch = state.game_variables
        f = self.cfg.factor
        return Observation(
            rgb=downsample_rgb(state.screen_buffer, f),
            depth=doom_depth(state.depth_buffer, f),
            K=doom_intrinsics(pitch, self.cfg.size),
            pose=doom_pose(x, y, z, angle),
            action=action,
            index=self._index,
        )


def _wrap(deg: float) -> float:
    """Angle in (-180, 180]."""
    return -((-deg + 180.0) % 360.0 - 180.0)
