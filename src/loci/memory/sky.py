"""What a world saw at infinity: colours by world direction (a game's sky, a skybox).

Pixels of unknown depth (0) have no 3D point, so a point memory cannot hold them; but what is drawn
at infinity depends on the viewing direction alone, not on where the camera stands. The sky memory
keeps those colours in an equirectangular panorama of world directions (OpenCV world axes:
longitude ``atan2(x, z)``, latitude ``asin(-y)``, so "up" is ``-y``) and renders them to any camera
by its rays. Shapes: ``rgb (C, H, W)``, ``K (3, 3)``, ``pose (4, 4)`` camera-to-world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from loci.geometry import check_intrinsics, check_pose
from loci.geometry.rays import _camera_rays

STATE_KEYS = ("rgb", "weight")
FALLBACK_LEVELS = 3  # render: up to 8× coarser panoramas for rays whose cells were not all seen


def _wrap_pad(pano: torch.Tensor) -> torch.Tensor:
    """``pano (C, h, w)`` with its last column before the first and its first after the last ``(C, h, w + 2)``."""
    return torch.cat([pano[..., -1:], pano, pano[..., :1]], -1)


def _sample_wrapped(padded: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Bilinear samples ``(C, H, W)`` of a panorama ``(C, h, w)`` at continuous cell coordinates
    ``cells (H, W, 2)`` (column, row; cell ``k`` spans ``[k, k + 1)``), the columns wrapping around;
    ``padded (C, h, w + 2)``: the panorama through :func:`_wrap_pad`."""
    _, h, w = padded.shape
    w -= 2
    gx = (cells[..., 0] + 1) / (w + 2) * 2 - 1
    gy = cells[..., 1] / h * 2 - 1
    grid = torch.stack([gx, gy], -1)[None]
    return F.grid_sample(padded[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


@dataclass(frozen=True)
class SkyConfig:
    """cells_per_degree: panorama resolution (2 → 720×360 cells, finer than a 160-pixel, 90° view's
    0.56° pixels). min_weight: the share of a render sample's bilinear neighbourhood that must have
    been seen for the sample to count."""

    cells_per_degree: float = 2.0
    min_weight: float = 0.25

    def __post_init__(self) -> None:
        if not self.cells_per_degree > 0 or not 0 < self.min_weight <= 1:
            raise ValueError(f"invalid SkyConfig {self}")


class SkyMemory:
    """Panorama ``rgb (C, H, W)`` float32 and ``weight (H, W)`` float32 (1 where seen), allocated on the
    first insert that holds a sky pixel (a world without sky stores nothing). Renders reuse the
    panorama's pull pyramid until the next insert or load changes it (a session's generated frames
    never do, so play renders the sky from a 160×120 view's rays alone)."""

    def __init__(self, channels: int = 3, cfg: SkyConfig | None = None):
        self.cfg = cfg or SkyConfig()
        self.channels = channels
        self.height = max(2, round(180 * self.cfg.cells_per_degree))
        self.width = 2 * self.height
        self.rgb = torch.zeros(channels, 0, 0)
        self.weight = torch.zeros(0, 0)
        self._pyramid: list[torch.Tensor] | None = None  # see _levels; None: to be built

    @property
    def empty(self) -> bool:
        return not self._levels()

    def _levels(self) -> list[torch.Tensor]:
        """The pull pyramid render samples, built once per change of the panorama: level ``i``
        ``(C + 1, h / 2^i, w / 2^i + 2)`` (through :func:`_wrap_pad`) holds colour × weight and the
        weight, each ``2^i`` block's colour summed and its weight capped at 1 (a block with one seen
        cell is seen). Empty when nothing was seen."""
        if self._pyramid is None:
            self._pyramid = []
            if self.weight.numel() and bool((self.weight > 0).any()):
                level = torch.cat([self.rgb * self.weight, self.weight[None]])
                for i in range(FALLBACK_LEVELS + 1):
                    if i:
                        total = F.avg_pool2d(level[None], 2)[0] * 4
                        weight = total[-1:].clamp(max=1)
                        level = torch.cat([total[:-1] / total[-1:].clamp(min=1e-6) * weight, weight])
                    self._pyramid.append(_wrap_pad(level))
        return self._pyramid

    @property
    def nbytes(self) -> int:
        return self.rgb.numel() * 4 + self.weight.numel() * 4

    def _cells(self, K: torch.Tensor, pose: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Continuous panorama coordinates ``(H, W, 2)`` (column, row) of every pixel's ray."""
        rays = _camera_rays(K.float(), size) @ pose[:3, :3].float().T
        rays = rays / rays.norm(dim=-1, keepdim=True)
        lon = torch.atan2(rays[..., 0], rays[..., 2])  # [-pi, pi)
        lat = torch.asin((-rays[..., 1]).clamp(-1, 1))  # up is -y
        col = (lon + math.pi) / (2 * math.pi) * self.width
        row = (math.pi / 2 - lat) / math.pi * self.height
        return torch.stack([col, row], -1)

    def insert(self, rgb: torch.Tensor, K: torch.Tensor, pose: torch.Tensor, where: torch.Tensor) -> int:
        """Remember the pixels ``where (H, W)`` bool of ``rgb (C, H, W)``: each panorama cell they
        fall in takes their mean colour (the latest frame wins). Returns the number of cells written."""
        check_intrinsics(K)
        check_pose(pose)
        if rgb.shape[0] != self.channels or rgb.shape[1:] != where.shape:
            raise ValueError(
                f"sky features must be ({self.channels}, H, W) matching where {tuple(where.shape)}, got {tuple(rgb.shape)}"
            )
        if not bool(where.any()):
            return 0
        if self.weight.numel() == 0:
            self.rgb = torch.zeros(self.channels, self.height, self.width)
            self.weight = torch.zeros(self.height, self.width)
        cells = self._cells(K, pose, tuple(where.shape))[where]
        col = cells[:, 0].floor().long() % self.width
        row = cells[:, 1].floor().long().clamp(0, self.height - 1)
        flat = row * self.width + col
        n = self.height * self.width
        count = torch.zeros(n).index_add_(0, flat, torch.ones(len(flat)))
        total = torch.zeros(n, self.channels).index_add_(0, flat, rgb[:, where].T.float())
        hit = count > 0
        colours = self.rgb.reshape(self.channels, n)
        colours[:, hit] = (total[hit] / count[hit, None]).T
        self.weight.view(-1)[hit] = 1.0
        self._pyramid = None
        return int(hit.sum())

    def render(
        self, K: torch.Tensor, pose: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features (C, H, W), mask (H, W) bool)`` of the remembered sky seen from a camera.

        Bilinear over the seen cells (the longitude wraps around); where the cells near a ray were
        not all seen (a view coarser than the panorama inserts one cell in a few), the ray takes the
        first of up to ``FALLBACK_LEVELS`` 2×-coarser panoramas (pull-push) that has seen enough."""
        h, w = size
        levels = self._levels()
        if not levels:
            return torch.zeros(self.channels, h, w), torch.zeros(h, w, dtype=torch.bool)
        cells = self._cells(K, pose, size)
        features = torch.zeros(self.channels, h, w)
        mask = torch.zeros(h, w, dtype=torch.bool)
        for i, level in enumerate(levels):
            s = _sample_wrapped(level, cells / 2**i)
            take = ~mask & (s[-1] >= self.cfg.min_weight)
            features = torch.where(take, s[:-1] / s[-1].clamp(min=1e-6), features)
            mask |= take
            if bool(mask.all()):
                break
        return features, mask

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"rgb": self.rgb.contiguous(), "weight": self.weight.contiguous()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict` (an empty state is an empty sky), validating shapes."""
        rgb, weight = state.get("rgb"), state.get("weight")
        self._pyramid = None
        if rgb is None or weight is None or weight.numel() == 0:
            self.rgb, self.weight = torch.zeros(self.channels, 0, 0), torch.zeros(0, 0)
            return
        want = (self.channels, self.height, self.width)
        if tuple(rgb.shape) != want or tuple(weight.shape) != want[1:]:
            raise ValueError(
                f"sky state must be rgb {want} and weight {want[1:]}, got {tuple(rgb.shape)} and {tuple(weight.shape)}"
            )
        if not bool(torch.isfinite(rgb).all() & torch.isfinite(weight).all()):
            raise ValueError("sky state holds non-finite values")
        self.rgb, self.weight = rgb.float().clone(), weight.float().clone()
