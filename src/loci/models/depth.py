"""A tiny monocular depth network: one RGB frame -> metric z-depth (the single-image start of a world).

``DepthNet(rgb (B, 3, H, W) in [-1, 1]) -> depth (B, H, W)`` float32 metres, always > 0 (the net predicts
a depth for every pixel, also where an engine reports unknown). Internally a small conv U-Net predicts
log-depth ``log d = log(init_depth_m) + y`` clamped to ``[log min_depth_m, log max_depth_m]``; the
training loss works on the unclamped log-depth (:meth:`DepthNet.log_depth`).

Optional coordinate channels (normalised pixel x, y in [-1, 1]) tell the net where a pixel is in the
image: with a level camera, the image row of a floor pixel nearly fixes its depth. They tie the weights
to the training camera (field of view, pitch), as is the case for any monocular metric-depth net.

H and W need not be multiples of ``2**(len(widths) - 1)``: the input is padded (replicate) and the
output cropped back. :meth:`DepthNet.predict` is the uint8 ``(H, W, 3)`` numpy front door.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from loci.geometry.checks import check_finite, check_tensor


@dataclass(frozen=True)
class DepthNetConfig:
    """Architecture and output range of :class:`DepthNet`.

    ``widths[i]``: channels at resolution ``1 / 2**i``; ``encoder_blocks[i]`` / ``decoder_blocks[i]``:
    residual blocks per level (the deepest level has no decoder stage, its entry must be 0).
    ``global_context``: add a pooled whole-image feature at the deepest level (scene scale).
    ``batch_norm``: BatchNorm before every activation (trains several times faster here; the model
    then behaves differently in train and eval mode — :meth:`DepthNet.predict` always uses eval mode).
    ``init_depth_m``: the depth a zero network output means; the output is clamped to
    ``[min_depth_m, max_depth_m]``, and training ignores ground truth at or beyond ``max_depth_m``.
    """

    widths: tuple[int, ...] = (8, 16, 32, 64, 64)
    encoder_blocks: tuple[int, ...] = (0, 1, 1, 1, 1)
    decoder_blocks: tuple[int, ...] = (0, 0, 1, 1, 0)
    coord_channels: bool = True
    global_context: bool = True
    batch_norm: bool = True
    init_depth_m: float = 3.0
    min_depth_m: float = 0.1
    max_depth_m: float = 60.0

    def __post_init__(self) -> None:
        n = len(self.widths)
        if n < 2:
            raise ValueError(f"widths needs at least 2 levels, got {self.widths}")
        for name in ("encoder_blocks", "decoder_blocks"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} needs {n} entries (one per width), got {getattr(self, name)}")
        if min(self.widths) < 1 or min(self.encoder_blocks + self.decoder_blocks) < 0:
            raise ValueError("widths must be >= 1 and block counts >= 0")
        if self.decoder_blocks[-1] != 0:
            raise ValueError("decoder_blocks[-1] must be 0 (the deepest level has no decoder stage)")
        if not 0 < self.min_depth_m < self.init_depth_m < self.max_depth_m:
            raise ValueError("need 0 < min_depth_m < init_depth_m < max_depth_m")

    @property
    def multiple(self) -> int:
        """The network works on sizes that are multiples of this (inputs are padded to it)."""
        return 2 ** (len(self.widths) - 1)


def coordinate_grid(b: int, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel-centre coordinates ``(B, 2, H, W)``: x then y, each mapped to [-1, 1] across the image."""
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w * 2 - 1
    grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)])
    return grid[None].expand(b, 2, h, w)


def _norm(width: int, on: bool) -> nn.Module:
    return nn.BatchNorm2d(width) if on else nn.Identity()


class NormResBlock(nn.Module):
    """Pre-activation residual block ``x + conv(relu(norm(conv(relu(norm(x))))))``; BatchNorm or none."""

    def __init__(self, width: int, batch_norm: bool):
        super().__init__()
        self.norm1, self.norm2 = _norm(width, batch_norm), _norm(width, batch_norm)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))


class DepthNet(nn.Module):
    """Conv U-Net ``rgb (B, 3, H, W)`` in [-1, 1] -> metric depth ``(B, H, W)`` (see the module docstring)."""

    def __init__(self, cfg: DepthNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or DepthNetConfig()
        w, bn, levels = cfg.widths, cfg.batch_norm, range(len(cfg.widths) - 1)
        self.stem = nn.Conv2d(3 + 2 * cfg.coord_channels, w[0], 3, padding=1)
        self.enc = nn.ModuleList(
            nn.Sequential(*(NormResBlock(w[i], bn) for _ in range(n)))
            for i, n in enumerate(cfg.encoder_blocks)
        )
        self.down_norms = nn.ModuleList(_norm(w[i], bn) for i in levels)
        self.downs = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 3, stride=2, padding=1) for i in levels)
        self.context = nn.Linear(w[-1], w[-1]) if cfg.global_context else None
        if self.context is not None:
            nn.init.zeros_(self.context.weight)
            nn.init.zeros_(self.context.bias)
        self.up_norms = nn.ModuleList(_norm(w[i + 1], bn) for i in levels)
        self.ups = nn.ModuleList(nn.Conv2d(w[i + 1], w[i], 1) for i in levels)
        self.dec = nn.ModuleList(
            nn.Sequential(*(NormResBlock(w[i], bn) for _ in range(n)))
            for i, n in enumerate(cfg.decoder_blocks)
        )
        self.head_norm = _norm(w[0], bn)
        self.head = nn.Conv2d(w[0], 1, 3, padding=1)
        nn.init.zeros_(self.head.bias)
        self.to(memory_format=torch.channels_last)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_rgb(self, rgb: object) -> torch.Tensor:
        rgb = check_tensor(rgb, "rgb")
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must have shape (B, 3, H, W), got {tuple(rgb.shape)}")
        if rgb.shape[2] < 1 or rgb.shape[3] < 1:
            raise ValueError(f"rgb must have a non-empty image, got {tuple(rgb.shape)}")
        return check_finite(rgb, "rgb")

    def log_depth(self, rgb: torch.Tensor) -> torch.Tensor:
        """Unclamped log-depth ``(B, H, W)`` (fp32) of ``rgb (B, 3, H, W)`` in [-1, 1] — what training fits."""
        rgb = self._check_rgb(rgb)
        b, _, h, w = rgb.shape
        dtype = self.stem.weight.dtype
        x = rgb.to(dtype)
        if self.cfg.coord_channels:
            x = torch.cat([x, coordinate_grid(b, h, w, x.device, dtype)], 1)
        m = self.cfg.multiple
        ph, pw = -h % m, -w % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        y = self._unet(x.contiguous(memory_format=torch.channels_last))
        return y[:, 0, :h, :w].float() + math.log(self.cfg.init_depth_m)

    def _unet(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for i, stage in enumerate(self.enc):
            x = stage(x)
            if i < len(self.downs):
                skips.append(x)
                x = self.downs[i](F.relu(self.down_norms[i](x)))
        if self.context is not None:
            x = x + self.context(F.relu(x).mean((2, 3)))[:, :, None, None]
        for i in range(len(self.ups) - 1, -1, -1):
            x = self.ups[i](F.relu(self.up_norms[i](x)))
            x = self.dec[i](
                F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False) + skips[i]
            )
        return self.head(F.relu(self.head_norm(x)))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """``rgb (B, 3, H, W)`` in [-1, 1] -> depth ``(B, H, W)`` float32 metres in ``[min_depth_m, max_depth_m]``."""
        lo, hi = math.log(self.cfg.min_depth_m), math.log(self.cfg.max_depth_m)
        return self.log_depth(rgb).clamp(lo, hi).exp()

    @torch.inference_mode()
    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """One frame ``rgb (H, W, 3)`` uint8 -> depth ``(H, W)`` float32 metres (eval mode, no gradients)."""
        if not isinstance(rgb, np.ndarray):
            raise TypeError(f"rgb must be a numpy array, got {type(rgb).__name__}")
        if rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8 (0..255), got dtype {rgb.dtype}")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
        was_training = self.training
        self.eval()
        device = self.stem.weight.device
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
        depth = self(x)[0].cpu().numpy()
        self.train(was_training)
        return depth
