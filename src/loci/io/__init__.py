"""Files at the edges of loci: atomic writes, MP4 videos, images for people (depth colouring, panels).

Imports nothing of loci's: any layer may use it.
"""

from .atomic import atomic_path, atomic_write_bytes, atomic_write_text, fsync_dir, sweep_temporaries
from .configs import config_from_dict, config_from_json, config_to_dict
from .digest import MANIFEST, check_finite, check_manifest, file_digest, manifest_digest, tensors_digest
from .machine import calls_per_second, machine_info
from .topdown import TopDownMap, draw_top_down, ground_frame
from .video import Mp4Writer, write_mp4
from .visual import colorize_depth, hstack_panels, label_image, to_uint8_image

__all__ = [
    "MANIFEST",
    "Mp4Writer",
    "TopDownMap",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "calls_per_second",
    "check_finite",
    "check_manifest",
    "colorize_depth",
    "config_from_dict",
    "config_from_json",
    "config_to_dict",
    "draw_top_down",
    "file_digest",
    "fsync_dir",
    "ground_frame",
    "hstack_panels",
    "label_image",
    "machine_info",
    "manifest_digest",
    "sweep_temporaries",
    "tensors_digest",
    "to_uint8_image",
    "write_mp4",
]
