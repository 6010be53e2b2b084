"""A small convolutional autoencoder for the 4D state of one frame: RGB + square-root disparity.

Input per frame: ``rgb (B, 3, H, W)`` in [-1, 1] and ``depth (B, H, W)`` in metres (0 = unknown).
Latents: ``(B, latent_channels, H / f, W / f)`` with ``f = downsample`` (4 or 8); no temporal compression.

Depth parameterisation (DeepVerse): ``e = sqrt(1 / depth)`` scaled so that a reference value ``scale``
maps to ``λ``: ``e_norm = λ · e / scale``. ``scale`` is explicit, never hidden state:

* ``encode(rgb, depth)`` uses each frame's own maximum of ``e`` (its nearest surface) and returns it;
* ``encode(rgb, depth, scale=s)`` uses a caller's scale — e.g. the first frame's maximum for every frame
  of a clip, as DeepVerse does (later frames may then exceed ``λ``) — and returns it unchanged.

``decode(latents, scale)`` inverts the normalisation exactly given the same scale (see
:func:`normalize_depth` / :func:`denormalize_depth`). Unknown depth (0) encodes as ``e = 0``, i.e.
infinitely far; on decode a normalised value below ``unknown_threshold`` is reported as unknown (0)
rather than as a huge depth. A frame without any known depth gets scale 1 (everything unknown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from loci.geometry.checks import check_depth, check_finite, check_tensor
from loci.geometry.depth import depth_to_sqrt_disparity, normalize_by_max


@dataclass(frozen=True)
class TokenizerConfig:
    """Architecture and depth encoding of :class:`Tokenizer`.

    ``widths[i]`` is the channel width at resolution ``1 / 2**i``; ``len(widths) == log2(downsample) + 1``.
    ``encoder_blocks`` / ``decoder_blocks``: residual blocks per resolution level (same length).
    """

    in_channels: int = 4
    latent_channels: int = 16
    downsample: int = 4
    widths: tuple[int, ...] = (16, 32, 64)
    encoder_blocks: tuple[int, ...] = (1, 1, 2)
    decoder_blocks: tuple[int, ...] = (0, 1, 2)
    depth_lambda: float = 0.9
    unknown_threshold: float = 0.01

    def __post_init__(self) -> None:
        if self.in_channels != 4:
            raise ValueError(f"in_channels must be 4 (RGB + sqrt-disparity), got {self.in_channels}")
        if self.downsample < 1 or self.downsample & (self.downsample - 1):
            raise ValueError(f"downsample must be a power of two, got {self.downsample}")
        levels = int(math.log2(self.downsample)) + 1
        for name in ("widths", "encoder_blocks", "decoder_blocks"):
            value = getattr(self, name)
            if len(value) != levels:
                raise ValueError(
                    f"{name} needs {levels} entries for downsample {self.downsample}, got {value}"
                )
        if (
            self.latent_channels < 1
            or min(self.widths) < 1
            or min(self.encoder_blocks + self.decoder_blocks) < 0
        ):
            raise ValueError("latent_channels and widths must be >= 1, block counts >= 0")
        if not 0 < self.depth_lambda <= 1:
            raise ValueError(f"depth_lambda must be in (0, 1], got {self.depth_lambda}")
        if not 0 <= self.unknown_threshold < self.depth_lambda:
            raise ValueError("unknown_threshold must be in [0, depth_lambda)")


def _check_scale(scale: torch.Tensor | float, batch: int, device: torch.device) -> torch.Tensor:
    s = torch.as_tensor(scale, dtype=torch.float32, device=device)
    if s.dim() == 0:
        s = s.expand(batch)
    if tuple(s.shape) != (batch,):
        raise ValueError(f"scale must be a scalar or have shape ({batch},), got {tuple(s.shape)}")
    check_finite(s, "scale")
    if bool((s <= 0).any()):
        raise ValueError("scale must be positive")
    return s


def normalize_depth(
    depth: torch.Tensor, scale: torch.Tensor | float | None = None, lam: float = 0.9
) -> tuple[torch.Tensor, torch.Tensor]:
    """``depth (B, H, W)`` metres -> ``(e_norm (B, H, W), scale (B,))`` with ``e_norm = λ·sqrt(1/d)/scale``.

    ``scale=None``: each frame's maximum square-root disparity (1 for a frame with no known depth).
    Unknown depth (0) gives ``e_norm = 0``.
    """
    e = depth_to_sqrt_disparity(depth)
    if scale is None:
        m = e.flatten(-2).amax(-1)
        scale = torch.where(m > 0, m, torch.ones_like(m))
    scale = _check_scale(scale, depth.shape[0], depth.device)
    return normalize_by_max(e, scale.to(e.dtype), lam), scale


def denormalize_depth(
    e_norm: torch.Tensor, scale: torch.Tensor | float, lam: float = 0.9, unknown_threshold: float = 0.0
) -> torch.Tensor:
    """Inverse of :func:`normalize_depth`: ``(B, H, W)`` -> depth metres; ``e_norm <= threshold`` -> 0."""
    scale = _check_scale(scale, e_norm.shape[0], e_norm.device)
    if not 0 < lam <= 1:
        raise ValueError(f"lam must be in (0, 1], got {lam}")
    e = e_norm.clamp_min(max(unknown_threshold, 1e-12))
    depth = ((lam / scale) ** 2).to(e.dtype)[:, None, None] / (e * e)  # = 1 / (e_norm · scale / λ)²
    return depth.masked_fill_(e_norm <= unknown_threshold, 0.0)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(relu(x))))``; the second conv starts at zero so a fresh block is the identity."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x)), inplace=True))


class Encoder(nn.Module):
    """``(B, 4, H, W) -> (B, latent_channels, H / f, W / f)``: stride-2 convs between residual stages."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        w = cfg.widths
        self.conv_in = nn.Conv2d(cfg.in_channels, w[0], 3, padding=1)
        blocks = cfg.encoder_blocks
        self.stages = nn.ModuleList(
            nn.Sequential(*(ResBlock(w[i]) for _ in range(n))) for i, n in enumerate(blocks)
        )
        self.downs = nn.ModuleList(
            nn.Conv2d(w[i], w[i + 1], 3, stride=2, padding=1) for i in range(len(w) - 1)
        )
        self.conv_out = nn.Conv2d(w[-1], cfg.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.downs):
                x = self.downs[i](F.relu(x, inplace=True))
        return self.conv_out(F.relu(x, inplace=True))


class Decoder(nn.Module):
    """``(B, latent_channels, h, w) -> (B, 4, h·f, w·f)``: residual stages, 1×1 conv + pixel-shuffle up."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        w = cfg.widths
        self.conv_in = nn.Conv2d(cfg.latent_channels, w[-1], 3, padding=1)
        levels = range(len(w) - 1, -1, -1)
        blocks = cfg.decoder_blocks
        self.stages = nn.ModuleList(
            nn.Sequential(*(ResBlock(w[i]) for _ in range(blocks[i]))) for i in levels
        )
        self.ups = nn.ModuleList(nn.Conv2d(w[i], 4 * w[i - 1], 1) for i in range(len(w) - 1, 0, -1))
        self.conv_out = nn.Conv2d(w[0], cfg.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(z)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.ups):
                x = F.pixel_shuffle(self.ups[i](F.relu(x, inplace=True)), 2)
        return self.conv_out(F.relu(x, inplace=True))


class Tokenizer(nn.Module):
    """Per-frame autoencoder of RGB + normalised square-root disparity (see the module docstring).

    ``encode(rgb, depth, scale=None) -> (latents, scale)``; ``decode(latents, scale) -> (rgb, depth)``.
    The network itself works on ``x (B, 4, H, W)``: RGB in [-1, 1] and ``e_norm`` (:meth:`to_input`,
    :meth:`encode_x`, :meth:`decode_x`) — the training loop uses those.
    """

    def __init__(self, cfg: TokenizerConfig | None = None):
        super().__init__()
        self.cfg = cfg or TokenizerConfig()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)
        self.to(memory_format=torch.channels_last)

    @property
    def downsample(self) -> int:
        return self.cfg.downsample

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_frames(self, rgb: object, depth: object) -> None:
        rgb = check_tensor(rgb, "rgb")
        depth = check_depth(depth)
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must have shape (B, 3, H, W), got {tuple(rgb.shape)}")
        b, _, h, w = rgb.shape
        if tuple(depth.shape) != (b, h, w):
            raise ValueError(f"depth must have shape (B, H, W) = {(b, h, w)}, got {tuple(depth.shape)}")
        f = self.cfg.downsample
        if h % f or w % f:
            raise ValueError(f"H and W must be multiples of the downsample factor {f}, got {h}×{w}")
        check_finite(rgb, "rgb")

    def to_input(
        self, rgb: torch.Tensor, depth: torch.Tensor, scale: torch.Tensor | float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate frames and stack them into the network input ``(B, 4, H, W)``; returns ``(x, scale)``."""
        self._check_frames(rgb, depth)
        e_norm, scale = normalize_depth(depth.float(), scale, self.cfg.depth_lambda)
        return torch.cat([rgb.float(), e_norm[:, None]], 1), scale

    def _param_dtype(self) -> torch.dtype:
        return self.encoder.conv_in.weight.dtype

    def encode_x(self, x: torch.Tensor) -> torch.Tensor:
        """Network input ``(B, 4, H, W)`` -> latents ``(B, C, H / f, W / f)``."""
        x = x.to(self._param_dtype()).contiguous(memory_format=torch.channels_last)
        return self.encoder(x)

    def decode_x(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> raw network output ``(B, 4, H, W)`` (RGB unclamped, ``e_norm``)."""
        z = z.to(self._param_dtype()).contiguous(memory_format=torch.channels_last)
        return self.decoder(z)

    def encode(
        self, rgb: torch.Tensor, depth: torch.Tensor, scale: torch.Tensor | float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``rgb (B, 3, H, W)`` in [-1, 1], ``depth (B, H, W)`` metres -> ``(latents (B, C, h, w), scale (B,))``."""
        x, scale = self.to_input(rgb, depth, scale)
        return self.encode_x(x).float(), scale

    def decode(self, latents: torch.Tensor, scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """``latents (B, C, h, w)``, ``scale`` -> ``rgb (B, 3, h·f, w·f)`` in [-1, 1], ``depth (B, h·f, w·f)`` m."""
        latents = check_tensor(latents, "latents")
        if latents.dim() != 4 or latents.shape[1] != self.cfg.latent_channels:
            raise ValueError(
                f"latents must have shape (B, {self.cfg.latent_channels}, h, w), got {tuple(latents.shape)}"
            )
        y = self.decode_x(latents).float()
        return self.split_output(y, scale)

    def split_output(self, y: torch.Tensor, scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw output ``(B, 4, H, W)`` -> ``(rgb clamped to [-1, 1], depth metres)``."""
        rgb = y[:, :3].clamp(-1, 1).contiguous()
        depth = denormalize_depth(y[:, 3], scale, self.cfg.depth_lambda, self.cfg.unknown_threshold)
        return rgb, depth
