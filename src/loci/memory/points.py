"""An explicit spatial memory: coloured points in the session's global frame, with a budget.

Frames are lifted to 3D with their depth and pose. A new frame adds only the pixels that the
memory does not already explain from that camera (its render there has no point at that depth):
revisiting a place costs nothing, and the density of points follows the density of pixels that
saw them. Optional voxel downsampling (one point per voxel) thins the memory further. When it
holds more than ``max_points`` it evicts the oldest or the least-seen points. It renders to any
camera with the z-buffered splat of :mod:`loci.geometry`; each point keeps the footprint of the
pixel that saw it, so a view that comes closer than the one that saw a surface shows the surface,
not a sieve of points with cracks between them. Pixels of unknown depth (a game's sky, drawn at
infinity) go to a :class:`~loci.memory.sky.SkyMemory` by direction and show where no point does.
Each point keeps the distance it was seen from, so a :class:`~loci.memory.light.LightFalloff` can
re-light its colour for the distance it is shown at (Doom darkens surfaces with distance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from loci.geometry import check_depth, check_intrinsics, check_pose
from loci.geometry.projection import _transform, _unproject_camera
from loci.geometry.se3 import invert
from loci.geometry.splat import Rendered, SplatMode, _splat_camera_winners, close_cracks

from .light import LightFalloff
from .sky import SkyConfig, SkyMemory

Eviction = Literal["oldest", "least_seen"]
STATE_KEYS = ("xyz", "rgb", "radius", "seen_depth", "born", "seen", "last_seen")
# saves made before footprints existed load with one-pixel points; before seen depths, un-relit
OPTIONAL_KEYS = {"radius", "seen_depth"}


@dataclass(frozen=True)
class PointMemoryConfig:
    """max_points: budget. eviction: which points go first over budget; evict_slack: the share of the
    budget freed at once when it is exceeded. voxel_m: optional voxel edge
    (m) for one point per voxel (None: off). dedupe_tolerance: relative depth agreement under which
    a pixel counts as already remembered. stride: pixel subsampling on insert. max_depth_m: farther
    pixels are not inserted (unreliable). splat: rendering mode. footprints: points render over the
    pixels their footprint covers (half-size ``depth / f · stride / 2`` in metres, the pixel that saw
    them; needs the nearest splat); False: one pixel each. sky: remember pixels of unknown depth by
    direction (:class:`SkyConfig`), shown in the holes of the points' render; None: off."""

    voxel_m: float | None = None
    dedupe_tolerance: float = 0.05
    max_points: int = 250_000
    eviction: Eviction = "oldest"
    evict_slack: float = 0.1
    stride: int = 1
    max_depth_m: float = 60.0
    splat: SplatMode = "nearest"
    footprints: bool = True
    sky: SkyConfig | None = field(default_factory=SkyConfig)

    def __post_init__(self) -> None:
        if (
            (self.voxel_m is not None and self.voxel_m <= 0)
            or self.max_points < 1
            or self.stride < 1
            or self.max_depth_m <= 0
        ):
            raise ValueError(f"invalid PointMemoryConfig {self}")
        if self.eviction not in ("oldest", "least_seen"):
            raise ValueError(f"eviction must be 'oldest' or 'least_seen', got {self.eviction!r}")
        if self.footprints and self.splat != "nearest":
            raise ValueError("PointMemoryConfig.footprints needs splat='nearest' (or footprints=False)")


class PointMemory:
    """World-frame point memory. ``xyz (N, 3)`` float32, ``rgb (N, channels)`` float32 features (RGB in
    [0, 1] for the colour memory; any ``channels``, e.g. tokenizer latents for a latent memory),
    ``radius (N,)`` float32 footprint half-sizes (m), ``seen_depth (N,)`` float32 z-depth (m) of the
    camera that saw each point (0: unknown), ``born/last_seen (N,)`` int64 step numbers,
    ``seen (N,)`` int64 render counts. ``light``: re-lights the colours (RGB in [0, 1], 3 channels)
    for the distance they are rendered at; None: colours render as they were seen."""

    def __init__(
        self, cfg: PointMemoryConfig | None = None, channels: int = 3, light: LightFalloff | None = None
    ):
        if channels < 1:
            raise ValueError(f"a point memory needs >= 1 feature channel, got {channels}")
        if light is not None and channels != 3:
            raise ValueError(f"a light falloff re-lights RGB colours (3 channels), not {channels} channels")
        self.cfg = cfg or PointMemoryConfig()
        self.channels = channels
        self.light = light
        self.xyz = torch.zeros(0, 3)
        self.rgb = torch.zeros(0, channels)
        self.radius = torch.zeros(0)
        self.seen_depth = torch.zeros(0)
        self.born = torch.zeros(0, dtype=torch.long)
        self.seen = torch.zeros(0, dtype=torch.long)
        self.last_seen = torch.zeros(0, dtype=torch.long)
        self.step = 0
        self.sky = SkyMemory(channels, self.cfg.sky) if self.cfg.sky is not None else None

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the memory's tensors."""
        return sum(t.numel() * t.element_size() for t in (getattr(self, k) for k in STATE_KEYS)) + (
            self.sky.nbytes if self.sky is not None else 0
        )

    def _keys(self, xyz: torch.Tensor) -> torch.Tensor:
        """One int64 key per voxel (21 bits per axis, centred: ±52 km at 5 cm voxels)."""
        v = torch.floor(xyz / self.cfg.voxel_m).long() + (1 << 20)
        return (v[:, 0] << 42) | (v[:, 1] << 21) | v[:, 2]

    def insert(
        self,
        rgb: torch.Tensor,
        depth: torch.Tensor,
        K: torch.Tensor,
        pose: torch.Tensor,
        valid: torch.Tensor | None = None,
        remembered: Rendered | None = None,
        observed: bool = False,
    ) -> int:
        """Add a frame: ``rgb (channels, H, W)`` float features, ``depth (H, W)`` (0 = unknown), ``K (3, 3)``,
        ``pose (4, 4)``, optional ``valid (H, W)`` bool. ``remembered``: this memory's render at the
        same camera if the caller has it already (saves a render). Returns the number of new points.
        ``observed``: the frame was seen, not generated; its pixels of unknown depth were then seen at infinity (a game's sky) and go to the sky memory.
        In a generated frame unknown depth means no information, and the sky memory keeps out of it."""
        check_depth(depth)
        check_intrinsics(K)
        check_pose(pose)
        c = self.channels
        if rgb.shape != (c, *depth.shape):
            raise ValueError(
                f"features must be (C, H, W) = ({c}, {depth.shape[0]}, {depth.shape[1]}), got {tuple(rgb.shape)}"
            )
        s = self.cfg.stride
        keep = (depth > 0) & (depth < self.cfg.max_depth_m)
        if valid is not None:
            keep &= valid
        if self.sky is not None and observed:
            self.sky.insert(rgb, K, pose, (depth == 0) if valid is None else (depth == 0) & valid)
        if len(self):
            mem = (
                remembered
                if remembered is not None
                else self.render(K, pose, tuple(depth.shape), count_seen=False)
            )
            known = mem.mask & ((mem.depth - depth).abs() <= self.cfg.dedupe_tolerance * depth)
            keep &= ~known
        if s > 1:
            sub = torch.zeros_like(keep)
            sub[s // 2 :: s, s // 2 :: s] = True
            keep &= sub
        pts = _transform(_unproject_camera(depth, K).reshape(-1, 3), pose)[keep.reshape(-1)]
        cols = rgb.reshape(c, -1).T[keep.reshape(-1)]
        pixel = float(torch.sqrt(K[0, 0] * K[1, 1]))
        seen_depth = depth.reshape(-1)[keep.reshape(-1)].float()
        radius = seen_depth * (s / (2 * pixel))
        self.step += 1
        if len(pts) == 0:
            return 0
        if self.cfg.voxel_m is not None:
            keys = self._keys(pts)
            # first point of each new voxel, and only voxels the memory does not hold yet
            uniq, inverse = torch.unique(keys, return_inverse=True)
            first = torch.full((len(uniq),), len(keys), dtype=torch.long).scatter_reduce(
                0, inverse, torch.arange(len(keys)), reduce="amin"
            )
            new = first[~torch.isin(uniq, self._keys(self.xyz))] if len(self) else first
        else:
            new = torch.arange(len(pts))
        n = len(new)
        self.xyz = torch.cat([self.xyz, pts[new]])
        self.rgb = torch.cat([self.rgb, cols[new].float()])
        self.radius = torch.cat([self.radius, radius[new]])
        self.seen_depth = torch.cat([self.seen_depth, seen_depth[new]])
        self.born = torch.cat([self.born, torch.full((n,), self.step, dtype=torch.long)])
        self.seen = torch.cat([self.seen, torch.ones(n, dtype=torch.long)])
        self.last_seen = torch.cat([self.last_seen, torch.full((n,), self.step, dtype=torch.long)])
        self._evict()
        return n

    def mark(self, incoming: int) -> tuple:
        """A mark to :meth:`retract` to, taken before inserting at most ``incoming`` points: the point
        count and step (cheap: inserts only append), or a copy of the whole state when those points
        could take the memory over budget (eviction reorders it) or reach its sky memory."""
        if len(self) + incoming > self.cfg.max_points or self.sky is not None:
            return ("copy", {k: v.clone() for k, v in self.state_dict().items()})
        return ("count", len(self), self.step)

    def retract(self, mark: tuple) -> None:
        """Undo every insert made since :meth:`mark` (the memory as it was then, renders aside)."""
        if mark[0] == "copy":
            self.load_state_dict(mark[1])
            return
        _, n, step = mark
        if len(self) < n:
            raise RuntimeError(f"cannot retract to {n} points: the memory holds {len(self)}")
        for name in STATE_KEYS:
            setattr(self, name, getattr(self, name)[:n])
        self.step = step

    def _evict(self) -> None:
        """Over budget: drop points down to ``(1 - evict_slack) · max_points`` at once, so eviction
        runs rarely. Points are stored in birth order, so "oldest" is a slice."""
        if len(self) <= self.cfg.max_points:
            return
        target = int(self.cfg.max_points * (1 - self.cfg.evict_slack))
        if self.cfg.eviction == "oldest":
            keep = slice(len(self) - target, None)
        else:
            score = self.seen * (1 << 32) + self.last_seen
            keep = torch.sort(torch.topk(score, target, sorted=False).indices).values
        for name in STATE_KEYS:
            setattr(self, name, getattr(self, name)[keep])

    def render(
        self, K: torch.Tensor, pose: torch.Tensor, size: tuple[int, int], count_seen: bool = True
    ) -> Rendered:
        """Render to a camera: ``features (channels, H, W)``, ``depth (H, W)``, ``mask (H, W)``.

        With ``count_seen`` the points that won a pixel count as seen at this step (for eviction).
        """
        check_intrinsics(K)
        check_pose(pose)
        h, w = size
        if len(self) == 0:
            empty = Rendered(
                torch.zeros(self.channels, h, w), torch.zeros(h, w), torch.zeros(h, w, dtype=torch.bool)
            )
            return self._with_sky(empty, K, pose)
        cam = _transform(self.xyz, invert(pose.to(self.xyz.dtype)))
        # with a light falloff the seen depth rides along as a 4th channel: the gain is then computed
        # per rendered pixel (from the winning point's depths; in bilinear mode, from the blend of the
        # accepted points'), not for every point in memory
        features = self.rgb if self.light is None else torch.cat([self.rgb, self.seen_depth[:, None]], 1)
        out, won = _splat_camera_winners(
            cam[None],
            features[None],
            K.to(self.xyz.dtype)[None],
            (h, w),
            self.cfg.splat,
            radius=self.radius[None] if self.cfg.footprints else None,
        )
        if count_seen:
            won = won[0]
            self.seen += won.long()
            self.last_seen = torch.where(won, self.step, self.last_seen)
        colours, depth = out.features[0], out.depth[0]
        if self.light is not None:  # as bright as the surface looks from this distance
            colours = (colours[:3] * self.light.gain(colours[3], depth)).clamp(0, 1)
        return self._with_sky(Rendered(colours, depth, out.mask[0]), K, pose)

    def _with_sky(self, r: Rendered, K: torch.Tensor, pose: torch.Tensor) -> Rendered:
        """The remembered sky in the holes of a render (not in the one-pixel cracks between points, which
        a 3×3 closing fills: a wall seen up close must not show the sky through its seams); its depth
        stays 0 (at infinity)."""
        if self.sky is None or self.sky.empty or bool(r.mask.all()):
            return r
        sky, seen = self.sky.render(K, pose, tuple(r.mask.shape))
        show = seen & ~close_cracks(r.mask)
        return Rendered(torch.where(show, sky, r.features), r.depth, r.mask | show)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors for saving (safetensors-ready, contiguous)."""
        sky = {} if self.sky is None else {f"sky.{k}": v for k, v in self.sky.state_dict().items()}
        return (
            {name: getattr(self, name).contiguous() for name in STATE_KEYS}
            | sky
            | {"step": torch.tensor(self.step)}
        )

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`, validating shapes and dtypes."""
        missing = set(STATE_KEYS) - OPTIONAL_KEYS - set(state)
        if missing:
            raise ValueError(f"memory state lacks {sorted(missing)}")
        n = state["xyz"].shape[0]
        state = {"radius": torch.zeros(n), "seen_depth": torch.zeros(n)} | dict(state)
        want = {"xyz": ((n, 3), torch.float32), "rgb": ((n, self.channels), torch.float32)}
        want |= {k: ((n,), torch.float32) for k in ("radius", "seen_depth")}
        want |= {k: ((n,), torch.long) for k in ("born", "seen", "last_seen")}
        for k, (shape, dtype) in want.items():
            if tuple(state[k].shape) != shape or state[k].dtype != dtype:
                raise ValueError(
                    f"memory state {k!r} must be {shape} {dtype}, got {tuple(state[k].shape)} {state[k].dtype}"
                )
        if not bool(torch.isfinite(state["xyz"]).all()):
            raise ValueError("memory state 'xyz' holds non-finite values")
        for k in ("radius", "seen_depth"):
            if not bool((torch.isfinite(state[k]) & (state[k] >= 0)).all()):
                raise ValueError(f"memory state {k!r} must be finite and >= 0")
        if self.sky is not None:  # saves made before the sky memory existed load with an empty sky
            self.sky.load_state_dict(
                {k.removeprefix("sky."): v for k, v in state.items() if k.startswith("sky.")}
            )
        for k in STATE_KEYS:
            setattr(self, k, state[k].clone())
        self.step = int(state.get("step", torch.tensor(0)))
