"""A synthetic scene with exact depth and poses, ray-cast in torch: a textured box room with objects.

The world frame is loci's global frame for a camera that starts at the origin looking along +z:
x right, y *down*, z forward (OpenCV). The floor is the plane ``y = floor_y`` (below the start eye
height), the ceiling is above. Units are metres. Shading is view-independent (solid procedural
texture × a fixed Lambert term), so a surface point has the same colour from every camera: warping
one exact render with its exact depth must reproduce another exact render on co-visible pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .checks import check_intrinsics, check_pose, check_size, check_trailing
from .rays import world_rays


@dataclass(frozen=True)
class Box:
    """Axis-aligned box ``lo..hi`` (metres) with a base colour (RGB in [0, 1])."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Sphere:
    """Sphere with centre, radius (metres) and base colour."""

    center: tuple[float, float, float]
    radius: float
    color: tuple[float, float, float]


def _default_objects() -> tuple[tuple[Box, ...], tuple[Sphere, ...]]:
    boxes = (
        Box((1.0, 0.2, 2.5), (2.2, 1.2, 3.7), (0.85, 0.35, 0.25)),
        Box((-2.8, -0.6, 4.2), (-1.6, 1.2, 5.4), (0.25, 0.55, 0.85)),
        Box((-0.6, 0.4, -3.0), (0.6, 1.2, -1.8), (0.9, 0.8, 0.3)),
        Box((2.6, -1.0, -1.0), (3.4, 1.2, 0.2), (0.55, 0.3, 0.75)),
    )
    spheres = (
        Sphere((-0.8, 0.6, 3.0), 0.6, (0.3, 0.8, 0.4)),
        Sphere((1.5, -0.8, 6.5), 0.7, (0.95, 0.55, 0.75)),
    )
    return boxes, spheres


@dataclass(frozen=True)
class SyntheticScene:
    """A room (camera inside) with boxes and spheres; all surfaces share one solid texture."""

    room: Box = Box((-4.0, -2.0, -4.0), (4.0, 1.2, 8.0), (0.8, 0.78, 0.72))
    boxes: tuple[Box, ...] = field(default_factory=lambda: _default_objects()[0])
    spheres: tuple[Sphere, ...] = field(default_factory=lambda: _default_objects()[1])
    texture_period: float = 1.2
    light_dir: tuple[float, float, float] = (0.4, 0.8, 0.45)

    @property
    def floor_y(self) -> float:
        return self.room.hi[1]


@dataclass(frozen=True)
class RayHits:
    """Ray-cast result: distance along the (unnormalised) ray ``t (...)``, hit point ``(..., 3)``,
    unit normal ``(..., 3)``, surface index ``(...)`` (0 = room, then boxes, then spheres)."""

    t: torch.Tensor
    point: torch.Tensor
    normal: torch.Tensor
    surface: torch.Tensor


def _slabs(o: torch.Tensor, d: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor):
    safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    t1, t2 = (lo - o) / safe, (hi - o) / safe
    return torch.minimum(t1, t2), torch.maximum(t1, t2)


def _axis_normal(axis: torch.Tensor, d: torch.Tensor, facing: float) -> torch.Tensor:
    """Unit normal along ``axis`` ``(...)``, oriented against (facing=-1) or along the ray."""
    n = torch.nn.functional.one_hot(axis, 3).to(d.dtype)
    s = torch.sign(torch.gather(d, -1, axis[..., None]))
    return facing * n * s


def cast_rays(scene: SyntheticScene, origins: torch.Tensor, dirs: torch.Tensor) -> RayHits:
    """Intersect rays ``origins, dirs (..., 3)`` (dirs need not be unit) with the scene.

    Origins must lie inside the room and outside every object; ``t`` is in units of ``|dirs|``.
    """
    check_trailing(origins, "origins", (3,))
    check_trailing(dirs, "dirs", (3,))
    o, d = torch.broadcast_tensors(origins, dirs)
    dt = d.dtype
    lo, hi = torch.tensor(scene.room.lo, dtype=dt), torch.tensor(scene.room.hi, dtype=dt)
    if bool(((o < lo) | (o > hi)).any()):
        raise ValueError("ray origins must lie inside the room")
    tmin, tmax = _slabs(o, d, lo, hi)
    t_room, axis = tmax.min(-1)
    best_t, best_n = t_room, _axis_normal(axis, d, -1.0)
    best_s = torch.zeros_like(t_room, dtype=torch.long)
    for i, box in enumerate(scene.boxes, 1):
        tmin, tmax = _slabs(o, d, torch.tensor(box.lo, dtype=dt), torch.tensor(box.hi, dtype=dt))
        t_near, axis = tmin.max(-1)
        t_far = tmax.min(-1).values
        if bool(((t_near <= 0) & (t_far > 0)).any()):
            raise ValueError(f"a ray origin lies inside box {i}")
        hit = (t_near <= t_far) & (t_near > 0) & (t_near < best_t)
        best_t = torch.where(hit, t_near, best_t)
        best_n = torch.where(hit[..., None], _axis_normal(axis, d, -1.0), best_n)
        best_s = torch.where(hit, i, best_s)
    for j, sph in enumerate(scene.spheres, 1 + len(scene.boxes)):
        c = torch.tensor(sph.center, dtype=dt)
        oc = o - c
        a = (d * d).sum(-1)
        b = 2 * (d * oc).sum(-1)
        cc = (oc * oc).sum(-1) - sph.radius**2
        if bool((cc < 0).any()):
            raise ValueError(f"a ray origin lies inside sphere {j}")
        disc = b * b - 4 * a * cc
        t = (-b - torch.sqrt(disc.clamp_min(0))) / (2 * a)
        hit = (disc >= 0) & (t > 0) & (t < best_t)
        n = (o + t[..., None] * d - c) / sph.radius
        best_t = torch.where(hit, t, best_t)
        best_n = torch.where(hit[..., None], n, best_n)
        best_s = torch.where(hit, j, best_s)
    return RayHits(best_t, o + best_t[..., None] * d, best_n, best_s)


ROOM_FACE_COLORS = {  # (axis, side) of the room's inner faces -> base colour
    (1, 1): (0.62, 0.45, 0.30),  # floor (y = hi, y points down)
    (1, 0): (0.85, 0.85, 0.82),  # ceiling
    (0, 0): (0.55, 0.65, 0.78),  # left wall (x = lo)
    (0, 1): (0.78, 0.70, 0.55),  # right wall
    (2, 0): (0.62, 0.75, 0.62),  # back wall (z = lo)
    (2, 1): (0.80, 0.62, 0.62),  # front wall
}


def _soft_checker(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """Tiles in [0, 1] with smooth edges (band-limited enough for warping tests)."""
    return 0.5 + 0.5 * torch.tanh(2.5 * torch.sin(k * a) * torch.sin(k * b))


def shade(scene: SyntheticScene, hits: RayHits) -> torch.Tensor:
    """View-independent colour ``(..., 3)`` in [0, 1] of ray hits: base colour × texture × Lambert.

    Planes get soft checker tiles in their own two axes; spheres get soft latitude/longitude tiles.
    """
    dt = hits.point.dtype
    n_box = len(scene.boxes)
    colors = [scene.room.color] + [b.color for b in scene.boxes] + [s.color for s in scene.spheres]
    base = torch.tensor(colors, dtype=dt)[hits.surface]
    axis = hits.normal.abs().argmax(-1)
    room = hits.surface == 0
    if bool(room.any()):
        side = (hits.normal.gather(-1, axis[..., None])[..., 0] < 0).long()  # normal points inward
        table = torch.zeros(3, 2, 3, dtype=dt)
        for (ax, sd), col in ROOM_FACE_COLORS.items():
            table[ax, sd] = torch.tensor(col, dtype=dt)
        base = torch.where(room[..., None], table[axis, side], base)
    k = 2 * math.pi / scene.texture_period
    p = hits.point
    # in-plane coordinates of an axis-aligned plane: drop the normal's axis
    a = torch.where(axis == 0, p[..., 1], p[..., 0])
    b = torch.where(axis == 2, p[..., 1], p[..., 2])
    pattern = _soft_checker(a, b, k)
    sphere = hits.surface > n_box
    if bool(sphere.any()):
        lat = torch.asin(hits.normal[..., 1].clamp(-1, 1))
        lon = torch.atan2(hits.normal[..., 0], hits.normal[..., 2])
        pattern = torch.where(sphere, _soft_checker(lat, lon, 4.0), pattern)
    light = torch.tensor(scene.light_dir, dtype=dt)
    light = light / light.norm()
    lambert = 0.5 + 0.5 * (hits.normal * light).sum(-1).abs()
    return (base * (0.55 + 0.45 * pattern)[..., None] * lambert[..., None]).clamp(0, 1)


@dataclass(frozen=True)
class SyntheticView:
    """An exact render: ``rgb (..., 3, H, W)`` float in [0, 1] and z-depth ``(..., H, W)`` in metres."""

    rgb: torch.Tensor
    depth: torch.Tensor


def render(scene: SyntheticScene, K: torch.Tensor, c2w: torch.Tensor, size: tuple[int, int]) -> SyntheticView:
    """Ray-cast the scene from cameras ``K (..., 3, 3)``, ``c2w (..., 4, 4)`` at pixel centres."""
    check_intrinsics(K)
    check_pose(c2w, "c2w")
    o, d = world_rays(K, c2w, check_size(size), normalize=False)  # camera z = 1: t is z-depth
    hits = cast_rays(scene, o, d)
    return SyntheticView(shade(scene, hits).movedim(-1, -3).contiguous(), hits.t)
