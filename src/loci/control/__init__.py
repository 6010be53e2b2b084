"""Control: keys, text and trajectories -> camera-frame pose deltas and global camera poses.

Conventions (on top of :mod:`loci.geometry`'s): poses are camera-to-world ``(4, 4)`` float32 in the
global frame (the first camera's OpenCV frame: x right, y down, z forward, so world up is -y); a
camera-frame delta is applied on the right, ``new = pose @ delta``. Users type degrees; radians inside.

- :mod:`.keys`: W/S forward/back, A/D strafe, Q/E turn left/right, R/F look up/down, ``.`` no-op;
  :func:`key_delta` is the delta of one step (keys may be combined: ``"WQ"``).
- :mod:`.controller`: :class:`PoseController` accumulates steps in ``"fly"`` (6-DoF) or ``"walk"``
  (FPS: yaw about world y, clamped pitch, no roll, horizontal moves) mode.
- :mod:`.text`: ``"move forward 2 then turn left 90"`` -> deltas, and :func:`describe_delta` back.
- :mod:`.trajectory`, :mod:`.paths`, :mod:`.explore`: :class:`Trajectory` (JSON save/load) and its
  generators.
This package imports :mod:`loci.geometry`, torch and the standard library only.
"""

from .angles import axis_rotation, ypr_angles, ypr_matrix
from .controller import MODES, Mode, Planned, PoseController
from .explore import Bounds, RandomWalkConfig, random_walk
from .keys import (
    KEYS,
    NOOP,
    NUM_ACTIONS,
    OPPOSITE,
    KeyStepConfig,
    action_id,
    action_keys,
    canonical_keys,
    invert_keys,
    key_delta,
    key_twist,
    parse_keys,
)
from .paths import DIRECTIONS, PAN_AXES, from_keys, loop_back, orbit, pan, straight
from .text import TextConfig, compose_deltas, describe_delta, parse_text, text_delta
from .trajectory import Trajectory

__all__ = [
    "DIRECTIONS",
    "KEYS",
    "MODES",
    "NOOP",
    "NUM_ACTIONS",
    "OPPOSITE",
    "PAN_AXES",
    "Bounds",
    "KeyStepConfig",
    "Mode",
    "Planned",
    "PoseController",
    "RandomWalkConfig",
    "TextConfig",
    "Trajectory",
    "action_id",
    "action_keys",
    "axis_rotation",
    "canonical_keys",
    "compose_deltas",
    "describe_delta",
    "from_keys",
    "invert_keys",
    "key_delta",
    "key_twist",
    "loop_back",
    "orbit",
    "pan",
    "parse_keys",
    "parse_text",
    "random_walk",
    "straight",
    "text_delta",
    "ypr_angles",
    "ypr_matrix",
]
