"""Key vocabulary: signs against image projection, step sizes, combos, cancellation, errors."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.control import KEYS, KeyStepConfig, canonical_keys, invert_keys, key_delta, key_twist, parse_keys
from loci.geometry import (
    intrinsics_from_fov,
    project,
    rotation_angle,
    se3_log,
    translation_distance,
)

K = intrinsics_from_fov((480, 640), fov_x_deg=90.0)
CX, CY = float(K[0, 2]), float(K[1, 2])
EYE = torch.eye(4)


def _pix(point, pose):
    """Pixel (u, v) and depth of one world point seen from ``pose``."""
    uv, z = project(torch.tensor([point], dtype=torch.float32), K, pose)
    return float(uv[0, 0]), float(uv[0, 1]), float(z[0])


# key -> expected motion of a point straight ahead: (sign of du, sign of dv, change of depth in steps)
SIGNS = {
    "W": (0, 0, -1),
    "S": (0, 0, +1),
    "A": (+1, 0, 0),
    "D": (-1, 0, 0),
    "Q": (+1, 0, 0),
    "E": (-1, 0, 0),
    "R": (0, +1, 0),
    "F": (0, -1, 0),
}


@pytest.mark.parametrize("key", list(SIGNS))
def test_key_signs_against_projection(key):
    cfg = KeyStepConfig()
    u, v, z = _pix([0.0, 0.0, 5.0], key_delta(key, cfg))
    su, sv, sz = SIGNS[key]
    for d, s in ((u - CX, su), (v - CY, sv)):
        assert (abs(d) < 1e-3) if s == 0 else (d * s > 1.0), (key, u, v)
    expected_z = 5.0 + sz * cfg.move_m if sz else None
    if expected_z is not None:
        assert z == pytest.approx(expected_z, abs=1e-5)


def test_turn_left_brings_left_points_toward_centre():
    u0, _, _ = _pix([-2.0, 0.0, 5.0], EYE)
    assert u0 < CX
    u1, _, _ = _pix([-2.0, 0.0, 5.0], key_delta("Q"))
    assert u1 > u0
    u2, _, _ = _pix([-2.0, 0.0, 5.0], key_delta("E"))
    assert u2 < u0


def test_look_up_moves_points_above_centre_down():
    _, v0, _ = _pix([0.0, -2.0, 5.0], EYE)
    assert v0 < CY
    _, v1, _ = _pix([0.0, -2.0, 5.0], key_delta("R"))
    assert v1 > v0


def test_strafe_left_moves_centre_to_minus_x():
    cfg = KeyStepConfig(move_m=0.4)
    assert torch.allclose(key_delta("A", cfg)[:3, 3], torch.tensor([-0.4, 0.0, 0.0]))
    assert torch.allclose(key_delta("D", cfg)[:3, 3], torch.tensor([0.4, 0.0, 0.0]))
    assert torch.allclose(key_delta("W", cfg)[:3, 3], torch.tensor([0.0, 0.0, 0.4]))


steps = st.builds(
    KeyStepConfig,
    move_m=st.floats(0.01, 3.0),
    turn_deg=st.floats(0.5, 90.0),
    pitch_deg=st.floats(0.5, 45.0),
)


@given(steps)
def test_step_sizes_are_exact(cfg):
    for key in "WSAD":
        d = key_delta(key, cfg)
        assert float(translation_distance(EYE, d)) == pytest.approx(cfg.move_m, rel=1e-5)
        assert float(rotation_angle(d[:3, :3])) < 1e-6
    for key, deg in (("Q", cfg.turn_deg), ("E", cfg.turn_deg), ("R", cfg.pitch_deg), ("F", cfg.pitch_deg)):
        d = key_delta(key, cfg)
        assert float(rotation_angle(d[:3, :3])) == pytest.approx(math.radians(deg), rel=1e-4, abs=1e-6)
        assert float(translation_distance(EYE, d)) < 1e-6


@given(steps)
def test_combo_is_exp_of_summed_twist(cfg):
    d = key_delta("WQ", cfg)
    expected = key_twist("W", cfg) + key_twist("Q", cfg)
    assert torch.allclose(se3_log(d.double()), expected, atol=1e-5)
    # an arc of length move_m turning by turn_deg: the chord is 2 (m / θ) sin(θ / 2)
    theta = math.radians(cfg.turn_deg)
    chord = 2 * cfg.move_m / theta * math.sin(theta / 2)
    assert float(translation_distance(EYE, d)) == pytest.approx(chord, rel=1e-4)
    assert float(rotation_angle(d[:3, :3])) == pytest.approx(theta, rel=1e-4)


@pytest.mark.parametrize("keys", ["WS", "AD", "QE", "RF", "WSADQERF", "wsqe", ".", ""])
def test_opposite_keys_cancel(keys):
    assert torch.equal(key_delta(keys), EYE)


def test_cancelling_keeps_the_rest_and_duplicates_count_once():
    assert torch.allclose(key_delta("WQS"), key_delta("Q"))
    assert torch.equal(key_delta("WW"), key_delta("W"))
    assert torch.equal(key_delta("wq"), key_delta("QW"))


@given(st.text(alphabet="WSADQERFwsadqerf.", max_size=8))
def test_inverse_keys_undo_the_step(keys):
    d = key_delta(keys).double() @ key_delta(invert_keys(keys)).double()
    assert torch.allclose(d, torch.eye(4, dtype=torch.float64), atol=1e-6)


def test_canonical_and_parse():
    assert canonical_keys("qw") == "WQ"
    assert canonical_keys("") == "." and canonical_keys("..") == "."
    assert parse_keys("Wq.") == frozenset({"W", "Q"})
    assert invert_keys("WQR") == "SEF"
    assert set(KEYS) == set("WSADQERF")


@pytest.mark.parametrize("bad", ["X", "W1", "up", "W Q"])
def test_unknown_key_names_the_key_and_the_allowed_set(bad):
    with pytest.raises(ValueError, match=r"unknown key .*allowed: W, S, A, D, Q, E, R, F"):
        key_delta(bad)


def test_keys_must_be_a_string():
    with pytest.raises(TypeError):
        key_delta(["W"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"move_m": 0.0},
        {"move_m": -1.0},
        {"move_m": float("nan")},
        {"turn_deg": 181.0},
        {"pitch_deg": 0.0},
        {"max_pitch_deg": 90.0},
        {"max_pitch_deg": -5.0},
        {"turn_deg": True},
        {"move_m": "1"},
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError, match="KeyStepConfig"):
        KeyStepConfig(**kwargs)


def test_action_ids_cover_every_combination_once():
    from loci.control import NUM_ACTIONS, action_id, action_keys

    assert NUM_ACTIONS == 81
    assert sorted(action_id(action_keys(i)) for i in range(NUM_ACTIONS)) == list(range(NUM_ACTIONS))
    assert action_id(".") == action_id("") == action_id("WS") == 0
    assert action_id("qw") == action_id("WQ") != action_id("WE")
