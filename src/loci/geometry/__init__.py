"""Geometry: cameras, SE(3), raymaps, Plücker rays, depth encodings, projection, warping, splats.

Conventions, written once here and used everywhere in loci:
- Camera frame OpenCV: x right, y down, z forward.
- Poses are camera-to-world 4×4 ``(..., 4, 4)``, in the global frame of a session's first view.
- Intrinsics ``K (..., 3, 3)``; pixel centres at +0.5; a pitch shear is a principal-point shift.
- Depth is z-depth, float32, ``0`` = unknown (NaN is rejected at the boundary).
- Feature maps are ``(..., C, H, W)``; any C (RGB, depth, latents).
This package imports torch only.
"""

from .checks import check_depth, check_intrinsics, check_pose, check_rotation
from .depth import (
    denormalize_by_max,
    depth_to_disparity,
    depth_to_sqrt_disparity,
    disparity_to_depth,
    frame_max,
    normalize_by_max,
    sqrt_disparity_to_depth,
)
from .intrinsics import (
    fov_from_intrinsics,
    intrinsics_from_fov,
    pitch_shear_shift,
    rescale_intrinsics,
    shift_principal_point,
)
from .points import PointCloud, accumulate_points, rebase_poses
from .projection import project, transform_points, unproject
from .rays import camera_from_raymap, camera_rays, pixel_centers, plucker, raymap, world_rays
from .se3 import (
    compose,
    hat,
    identity_pose,
    interpolate,
    invert,
    look_at,
    make_pose,
    relative_pose,
    rotation_angle,
    rotation_distance,
    se3_exp,
    se3_log,
    so3_exp,
    so3_log,
    translation_distance,
)
from .splat import Rendered, close_cracks, render_points
from .synthetic import SyntheticScene, SyntheticView, cast_rays, render
from .warp import backward_warp, forward_warp

__all__ = [
    "PointCloud",
    "Rendered",
    "SyntheticScene",
    "SyntheticView",
    "accumulate_points",
    "backward_warp",
    "camera_from_raymap",
    "camera_rays",
    "cast_rays",
    "check_depth",
    "check_intrinsics",
    "check_pose",
    "check_rotation",
    "close_cracks",
    "compose",
    "denormalize_by_max",
    "depth_to_disparity",
    "depth_to_sqrt_disparity",
    "disparity_to_depth",
    "forward_warp",
    "fov_from_intrinsics",
    "frame_max",
    "hat",
    "identity_pose",
    "interpolate",
    "intrinsics_from_fov",
    "invert",
    "look_at",
    "make_pose",
    "normalize_by_max",
    "pitch_shear_shift",
    "pixel_centers",
    "plucker",
    "project",
    "raymap",
    "rebase_poses",
    "relative_pose",
    "render",
    "render_points",
    "rescale_intrinsics",
    "rotation_angle",
    "rotation_distance",
    "se3_exp",
    "se3_log",
    "shift_principal_point",
    "so3_exp",
    "so3_log",
    "sqrt_disparity_to_depth",
    "transform_points",
    "translation_distance",
    "unproject",
    "world_rays",
]
