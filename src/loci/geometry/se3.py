"""Rigid motions: SO(3)/SE(3) exponential and logarithm, composition, inversion, interpolation.

Conventions (written once here, used everywhere):
- Poses are camera-to-world 4×4 matrices ``(..., 4, 4)``; a point ``x_cam`` maps to
  ``x_world = R @ x_cam + t``.
- A twist ``xi`` is ``(..., 6)`` = ``(rho, omega)``: translation part first, then the rotation
  vector (axis × angle, radians). ``se3_exp(xi)`` is the matrix exponential of its hat.
- A *delta in the camera frame* is applied on the right: ``new_pose = pose @ delta``.
All functions broadcast over leading batch dimensions and are differentiable away from the
singular points of the logarithm.
"""

from __future__ import annotations

import torch

from .checks import check_trailing

_SMALL = 1e-6


def hat(omega: torch.Tensor) -> torch.Tensor:
    """Skew-symmetric matrix of a 3-vector: ``(..., 3) -> (..., 3, 3)``, ``hat(a) @ b = a × b``."""
    x, y, z = omega.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack(
        [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2
    )


def _sin_coeffs(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``A = sinθ/θ``, ``B = (1-cosθ)/θ²``, ``C = (θ-sinθ)/θ³`` with Taylor series near 0."""
    small = theta < 1e-3
    t = torch.where(small, torch.ones_like(theta), theta)
    t2 = theta * theta
    a = torch.where(small, 1 - t2 / 6 + t2 * t2 / 120, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, (1 - torch.cos(t)) / (t * t))
    c = torch.where(small, 1 / 6 - t2 / 120 + t2 * t2 / 5040, (t - torch.sin(t)) / (t * t * t))
    return a, b, c


def so3_exp(omega: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: rotation vector ``(..., 3)`` -> rotation matrix ``(..., 3, 3)``."""
    check_trailing(omega, "omega", (3,))
    theta = omega.norm(dim=-1)
    a, b, _ = _sin_coeffs(theta)
    w = hat(omega)
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device)
    return eye + a[..., None, None] * w + b[..., None, None] * (w @ w)


def rotation_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix ``(..., 3, 3)`` -> unit quaternion ``(..., 4)`` as ``(w, x, y, z)``, ``w >= 0``.

    Shepperd's method: picks the numerically largest of the four candidates, so it is stable for
    every rotation, including angles near π.
    """
    m = R
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = torch.stack(
        [
            torch.stack(
                [
                    1 + tr,
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1 + 2 * m[..., 0, 0] - tr,
                    m[..., 0, 1] + m[..., 1, 0],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 0, 1] + m[..., 1, 0],
                    1 + 2 * m[..., 1, 1] - tr,
                    m[..., 1, 2] + m[..., 2, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 1, 2] + m[..., 2, 1],
                    1 + 2 * m[..., 2, 2] - tr,
                ],
                -1,
            ),
        ],
        -2,
    )  # (..., 4 candidates, 4); candidate k has component k equal to 4 q_k^2
    diag = torch.stack(
        [1 + tr, 1 + 2 * m[..., 0, 0] - tr, 1 + 2 * m[..., 1, 1] - tr, 1 + 2 * m[..., 2, 2] - tr], -1
    )
    best = diag.argmax(-1, keepdim=True)
    q = torch.gather(cands, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q.dtype)


def so3_log(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix ``(..., 3, 3)`` -> rotation vector ``(..., 3)`` with angle in ``[0, π]``."""
    check_trailing(R, "R", (3, 3))
    q = rotation_to_quaternion(R)
    w, v = q[..., 0], q[..., 1:]
    s = v.norm(dim=-1)
    angle = 2 * torch.atan2(s, w)
    small = s < _SMALL
    scale = torch.where(small, 2 / w.clamp_min(_SMALL), angle / torch.where(small, torch.ones_like(s), s))
    return v * scale[..., None]


def make_pose(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Assemble ``(..., 4, 4)`` from rotation ``(..., 3, 3)`` and translation ``(..., 3)``."""
    batch = torch.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    T = torch.zeros(*batch, 4, 4, dtype=R.dtype, device=R.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1
    return T


def identity_pose(*batch: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Identity poses of shape ``(*batch, 4, 4)``."""
    return torch.eye(4, dtype=dtype, device=device).expand(*batch, 4, 4).clone()


def se3_exp(xi: torch.Tensor) -> torch.Tensor:
    """Twist ``(..., 6)`` = ``(rho, omega)`` -> rigid transform ``(..., 4, 4)``."""
    check_trailing(xi, "xi", (6,))
    rho, omega = xi[..., :3], xi[..., 3:]
    theta = omega.norm(dim=-1)
    a, b, c = _sin_coeffs(theta)
    w = hat(omega)
    w2 = w @ w
    eye = torch.eye(3, dtype=xi.dtype, device=xi.device)
    R = eye + a[..., None, None] * w + b[..., None, None] * w2
    V = eye + b[..., None, None] * w + c[..., None, None] * w2
    return make_pose(R, (V @ rho[..., None])[..., 0])


def se3_log(T: torch.Tensor) -> torch.Tensor:
    """Rigid transform ``(..., 4, 4)`` -> twist ``(..., 6)`` = ``(rho, omega)``; inverse of ``se3_exp``."""
    check_trailing(T, "T", (4, 4))
    omega = so3_log(T[..., :3, :3])
    theta = omega.norm(dim=-1)
    w = hat(omega)
    small = theta < 1e-3
    t = torch.where(small, torch.ones_like(theta), theta)
    # V^-1 = I - W/2 + d W², d = (1 - θ sinθ / (2(1 - cosθ))) / θ²
    d = torch.where(
        small, 1 / 12 + theta * theta / 720, (1 - t * torch.sin(t) / (2 * (1 - torch.cos(t)))) / (t * t)
    )
    eye = torch.eye(3, dtype=T.dtype, device=T.device)
    V_inv = eye - 0.5 * w + d[..., None, None] * (w @ w)
    rho = (V_inv @ T[..., :3, 3:4])[..., 0]
    return torch.cat([rho, omega], -1)


def invert(T: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms ``(..., 4, 4)`` (closed form, no matrix inverse)."""
    check_trailing(T, "T", (4, 4))
    Rt = T[..., :3, :3].transpose(-1, -2)
    return make_pose(Rt, -(Rt @ T[..., :3, 3:4])[..., 0])


def compose(*poses: torch.Tensor) -> torch.Tensor:
    """``compose(a, b, c) = a @ b @ c`` with broadcasting over leading dims."""
    if not poses:
        raise ValueError("compose needs at least one pose")
    out = check_trailing(poses[0], "pose 0", (4, 4))
    for i, p in enumerate(poses[1:], 1):
        out = out @ check_trailing(p, f"pose {i}", (4, 4))
    return out


def relative_pose(pose_a: torch.Tensor, pose_b: torch.Tensor) -> torch.Tensor:
    """Pose of camera b expressed in camera a's frame: ``inv(a) @ b`` ``(..., 4, 4)``.

    So ``pose_b = pose_a @ relative_pose(pose_a, pose_b)``: the camera-frame delta from a to b.
    """
    return invert(pose_a) @ check_trailing(pose_b, "pose_b", (4, 4))


def rotation_angle(R: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (radians, ``[0, π]``) of rotations ``(..., 3, 3)``; stable near 0 and π."""
    return so3_log(R).norm(dim=-1)


def rotation_distance(pose_a: torch.Tensor, pose_b: torch.Tensor) -> torch.Tensor:
    """Geodesic angle between the orientations of two poses ``(..., 4, 4) -> (...)`` (radians)."""
    Ra, Rb = pose_a[..., :3, :3], pose_b[..., :3, :3]
    return rotation_angle(Ra.transpose(-1, -2) @ Rb)


def translation_distance(pose_a: torch.Tensor, pose_b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance between camera centres ``(..., 4, 4) -> (...)``."""
    return (pose_a[..., :3, 3] - pose_b[..., :3, 3]).norm(dim=-1)


def interpolate(pose_a: torch.Tensor, pose_b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Camera interpolation: rotation by slerp (geodesic), camera centre along the straight line.

    ``t`` is a scalar or a tensor broadcasting against the batch dims; ``t=0`` gives ``pose_a``,
    ``t=1`` gives ``pose_b``. This is what a camera path wants (centres move in a straight line),
    not the SE(3) screw motion ``a @ exp(t log(inv(a) b))``.
    """
    check_trailing(pose_a, "pose_a", (4, 4))
    check_trailing(pose_b, "pose_b", (4, 4))
    t = torch.as_tensor(t, dtype=pose_a.dtype, device=pose_a.device)
    Ra, Rb = pose_a[..., :3, :3], pose_b[..., :3, :3]
    omega = so3_log(Ra.transpose(-1, -2) @ Rb)
    R = Ra @ so3_exp(omega * t[..., None])
    c = pose_a[..., :3, 3] + t[..., None] * (pose_b[..., :3, 3] - pose_a[..., :3, 3])
    return make_pose(R, c)


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world pose ``(..., 4, 4)`` at ``eye`` looking at ``target`` (OpenCV frame).

    ``up`` is the world's up direction ``(..., 3)``; by default ``(0, -1, 0)``, because in loci's
    global frame (the first camera's OpenCV frame) y points down.
    """
    check_trailing(eye, "eye", (3,))
    check_trailing(target, "target", (3,))
    if up is None:
        up = eye.new_tensor([0.0, -1.0, 0.0])
    z = target - eye
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x = torch.linalg.cross(z, up.expand_as(z))
    n = x.norm(dim=-1, keepdim=True)
    if bool((n < 1e-9).any()):
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    x = x / n
    y = torch.linalg.cross(z, x)
    return make_pose(torch.stack([x, y, z], -1), eye)
