"""Text commands -> deltas, describe_delta -> text, and the round trips between them."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loci.control import (
    KeyStepConfig,
    TextConfig,
    compose_deltas,
    describe_delta,
    key_delta,
    parse_text,
    text_delta,
    ypr_angles,
    ypr_matrix,
)
from loci.geometry import make_pose, rotation_distance, translation_distance

F64 = torch.float64


def _delta(t=(0.0, 0.0, 0.0), yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0) -> torch.Tensor:
    """``T(t) @ Ry(yaw) @ Rx(pitch) @ Rz(roll)`` ``(4, 4)`` float32 (the canonical order of describe)."""
    R = ypr_matrix(math.radians(yaw_deg), math.radians(pitch_deg), math.radians(roll_deg))
    return make_pose(R, torch.tensor(t, dtype=F64)).float()


CASES = [
    ("move forward 2", _delta((0, 0, 2))),
    ("go back 0.5 m", _delta((0, 0, -0.5))),
    ("strafe left 1", _delta((-1, 0, 0))),
    ("move right 1.5 metres", _delta((1.5, 0, 0))),
    ("move up 2", _delta((0, -2, 0))),
    ("turn left 30 degrees", _delta(yaw_deg=-30)),
    ("turn right 90", _delta(yaw_deg=90)),
    ("turn around", _delta(yaw_deg=180)),
    ("look down 10 deg", _delta(pitch_deg=-10)),
    ("look up 5°", _delta(pitch_deg=5)),
    ("roll right 20 degrees", _delta(roll_deg=20)),
    ("rotate left by 0.5 rad", _delta(yaw_deg=-math.degrees(0.5))),
    ("MOVE Forward 2m", _delta((0, 0, 2))),
    ("stay still", _delta()),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_cases(text, expected):
    assert torch.allclose(text_delta(text), expected, atol=1e-6)


def test_clauses_apply_in_order():
    deltas = parse_text("move forward 2 then turn left 90")
    assert len(deltas) == 2
    d = text_delta("move forward 2 then turn left 90")
    assert torch.allclose(d, _delta((0, 0, 2), yaw_deg=-90), atol=1e-6)
    # the other order turns first, then walks along the new heading (-x)
    d2 = text_delta("turn left 90 then move forward 2")
    assert torch.allclose(d2[:3, 3], torch.tensor([-2.0, 0.0, 0.0]), atol=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "move forward 1 and turn left 20",
        "move forward 1, turn left 20",
        "move forward 1 then turn left 20",
        "move forward 1, and then turn left 20.",
        "move forward 1; turn left by 20 degrees",
    ],
)
def test_separators(text):
    assert len(parse_text(text)) == 2
    assert torch.allclose(text_delta(text), _delta((0, 0, 1), yaw_deg=-20), atol=1e-6)


def test_missing_amounts_are_one_key_step():
    cfg = KeyStepConfig(move_m=0.3, turn_deg=12.0, pitch_deg=4.0)
    for text, key in [
        ("move forward", "W"),
        ("go back", "S"),
        ("strafe left", "A"),
        ("strafe right", "D"),
        ("turn left", "Q"),
        ("turn right", "E"),
        ("look up", "R"),
        ("look down", "F"),
    ]:
        assert torch.allclose(text_delta(text, cfg), key_delta(key, cfg), atol=1e-6), text


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("jump", "jump"),
        ("move forward 2 and dance", "dance"),
        ("turn left 30 bananas", "bananas"),
        ("move forward 2 degrees", "degrees"),
        ("turn up", "up"),
        ("look left", "left"),
        ("strafe forward", "forward"),
        ("move forward -1", "-"),
        ("turn around 30", "30"),
        ("turn", "<end>"),
        ("stay put", "put"),
        ("forward 2", "forward"),
    ],
)
def test_bad_words_are_named(text, word):
    with pytest.raises(ValueError, match=f"word '{word}'"):
        parse_text(text)


def test_length_empty_and_type_errors():
    with pytest.raises(ValueError, match="limit is 500"):
        parse_text("move forward 1 and " * 30)
    with pytest.raises(ValueError, match="limit is 10"):
        parse_text("move forward", cfg=TextConfig(max_chars=10))
    for empty in ["", "   ", "and then ,"]:
        with pytest.raises(ValueError, match="empty"):
            parse_text(empty)
    with pytest.raises(TypeError):
        parse_text(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        parse_text("move forward " + "9" * 400)
    with pytest.raises(ValueError, match="TextConfig"):
        TextConfig(min_angle_deg=-1.0)


def test_describe_cases():
    assert describe_delta(torch.eye(4)) == "stay still"
    assert describe_delta(_delta((0, 0, 0.5), yaw_deg=-12)) == "move forward 0.50 m and turn left 12 degrees"
    assert describe_delta(_delta((0.003, 0, 0), yaw_deg=0.2)) == "stay still"  # below thresholds
    assert describe_delta(key_delta("W")) == "move forward 0.25 m"
    assert describe_delta(key_delta("A")) == "strafe left 0.25 m"
    assert describe_delta(key_delta("R")) == "look up 5 degrees"
    assert describe_delta(_delta(yaw_deg=180)) == "turn around"
    assert describe_delta(_delta(yaw_deg=-180)) == "turn around"
    assert describe_delta(_delta((0.1, 0.2, -0.3), 10.5, -3, 2)) == (
        "move back 0.30 m and strafe right 0.10 m and move down 0.20 m and turn right 10.5 degrees"
        " and look down 3 degrees and roll right 2 degrees"
    )
    with pytest.raises(ValueError):
        describe_delta(torch.eye(4).expand(2, 4, 4))


components = st.tuples(
    st.tuples(*[st.floats(-3.0, 3.0)] * 3),
    st.floats(-179.0, 179.0),
    st.floats(-85.0, 85.0),
    st.floats(-170.0, 170.0),
)
EXACT = TextConfig(move_decimals=4, angle_decimals=3, min_move_m=0.0, min_angle_deg=0.0)


@given(components)
def test_parse_of_describe_reproduces_the_delta(c):
    t, yaw, pitch, roll = c
    delta = _delta(t, yaw, pitch, roll)
    for cfg, tol_m, tol_deg in ((TextConfig(), 0.02, 1.0), (EXACT, 2e-4, 5e-3)):
        back = text_delta(describe_delta(delta, cfg), cfg=cfg)
        assert float(translation_distance(back, delta)) <= tol_m
        assert math.degrees(float(rotation_distance(back.double(), delta.double()))) <= tol_deg


@given(components)
def test_describe_of_parse_is_a_fixed_point_on_canonical_text(c):
    t, yaw, pitch, roll = c
    text = describe_delta(_delta(t, yaw, pitch, roll))
    assert describe_delta(text_delta(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "stay still",
        "turn around",
        "move forward 2.00 m and turn left 90 degrees",
        "strafe left 1.00 m and look up 12.5 degrees",
        "move back 0.05 m and move up 1.20 m and turn around and look down 30 degrees",
        "roll right 180 degrees",
    ],
)
def test_canonical_texts_round_trip(text):
    assert describe_delta(text_delta(text)) == text


def test_compose_deltas():
    assert torch.equal(compose_deltas([]), torch.eye(4))
    a, b = key_delta("WQ"), key_delta("R")
    assert torch.allclose(compose_deltas([a, b]), a @ b, atol=1e-6)
    assert ypr_angles(compose_deltas([key_delta("E")])[:3, :3])[0] > 0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("move forward 1000000000", "one clause moves at most 100 m"),
        ("move forward " + "1" + "0" * 20, "one clause moves at most 100 m"),
        ("strafe left 100.5 m", "at most 100 m"),
        ("turn left 3601 degrees", "at most 3600 degrees"),
        ("look up 63 radians", "at most 3600 degrees"),  # 3609.6 degrees
        ("turn right 1" + "0" * 308 + " rad", "at most 3600 degrees"),  # inf after the unit
    ],
)
def test_amounts_are_bounded(text, needle):
    with pytest.raises(ValueError, match=needle):
        parse_text(text)


def test_amounts_at_the_limits_are_walked_exactly():
    """100 m and 3600 degrees are allowed; a tighter TextConfig lowers the limits."""
    forward = compose_deltas(parse_text("move forward 100"))
    torch.testing.assert_close(forward[:3, 3], torch.tensor([0.0, 0.0, 100.0]))
    ten_turns = compose_deltas(parse_text("turn left 3600 degrees"))
    torch.testing.assert_close(ten_turns, torch.eye(4), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="at most 2 m"):
        parse_text("move forward 3", cfg=TextConfig(max_move_m=2.0))
    with pytest.raises(ValueError, match="max_move_m"):
        TextConfig(max_move_m=float("inf"))
