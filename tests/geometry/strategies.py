"""Hypothesis strategies for cameras and poses."""

import math

import torch
from hypothesis import strategies as st

from loci.geometry import make_pose, so3_exp

floats = st.floats(-1.0, 1.0, allow_nan=False, width=32)


@st.composite
def rotation_vectors(draw, max_angle: float = math.pi - 1e-3) -> torch.Tensor:
    axis = torch.tensor([draw(floats), draw(floats), draw(floats)], dtype=torch.float64)
    if axis.norm() < 1e-3:
        axis = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    angle = draw(st.floats(0.0, max_angle))
    return axis / axis.norm() * angle


@st.composite
def poses(draw, max_angle: float = math.pi - 1e-3, max_t: float = 3.0) -> torch.Tensor:
    omega = draw(rotation_vectors(max_angle))
    t = torch.tensor([draw(floats) * max_t for _ in range(3)], dtype=torch.float64)
    return make_pose(so3_exp(omega), t)


@st.composite
def intrinsics(draw, size=(24, 32)) -> torch.Tensor:
    h, w = size
    fx = draw(st.floats(0.5 * w, 2.0 * w))
    fy = fx * draw(st.floats(0.8, 1.25))
    cx = w / 2 + draw(st.floats(-0.2, 0.2)) * w
    cy = h / 2 + draw(st.floats(-0.3, 0.3)) * h
    return torch.tensor([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=torch.float64)
