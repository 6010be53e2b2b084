"""Evaluation: frame metrics, revisit consistency, camera motion from pixels, trajectory metrics.

Every metric takes plain numpy arrays in loci's conventions (uint8 ``(H, W, 3)`` images, depth in
metres with 0 = unknown, camera-to-world ``(T, 4, 4)`` poses) and returns a float or a typed result.
"""

from .camera import CameraMotion, MotionConfig, estimate_trajectory, match_frames
from .metrics import (
    PSNR_CAP_DB,
    DepthError,
    MemorySymmetry,
    MemorySymmetryConfig,
    depth_error,
    memory_symmetry,
    psnr,
    psnr_batch,
    ssim,
    ssim_batch,
    ssim_map,
    temporal_flickering,
)
from .revisit import RevisitConfig, RevisitConsistency, find_revisits, revisit_consistency
from .trajectory import (
    CameraErrors,
    TrajectoryAccuracy,
    TrajectoryAccuracyConfig,
    camera_errors,
    normalize_translation,
    step_vectors,
    trajectory_accuracy,
)

__all__ = [
    "PSNR_CAP_DB",
    "CameraErrors",
    "CameraMotion",
    "DepthError",
    "MemorySymmetry",
    "MemorySymmetryConfig",
    "MotionConfig",
    "RevisitConfig",
    "RevisitConsistency",
    "TrajectoryAccuracy",
    "TrajectoryAccuracyConfig",
    "camera_errors",
    "depth_error",
    "estimate_trajectory",
    "find_revisits",
    "match_frames",
    "memory_symmetry",
    "normalize_translation",
    "psnr",
    "psnr_batch",
    "revisit_consistency",
    "ssim",
    "ssim_batch",
    "ssim_map",
    "step_vectors",
    "temporal_flickering",
    "trajectory_accuracy",
]
