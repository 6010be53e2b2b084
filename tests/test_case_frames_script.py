"""``scripts/case_frames.py``: its variant strings reach the worlds as typed settings, or fail by name."""

import importlib.util
from pathlib import Path

import pytest

from loci.world import DitConfig

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "case_frames.py"


@pytest.fixture(scope="module")
def case_frames():
    spec = importlib.util.spec_from_file_location("case_frames", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variants_parse_into_backends_and_dit_settings(case_frames):
    assert case_frames.parse_variant("warp") == ("warp", "warp", {})
    label, backend, learned = case_frames.parse_variant("loci, fill=hole_blend:0.5,anchor_from:fill")
    assert (label, backend) == ("loci, fill", "loci")
    assert learned == {"dit": DitConfig(hole_blend=0.5, anchor_from="fill")}
    assert case_frames.parse_variant("loci")[2] == {"dit": DitConfig()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine", "must begin with one of"),
        ("warp=hole_blend:0.5", "only loci and dit take DitConfig settings"),
        ("loci=blend:0.5", "unexpected keyword argument 'blend'"),
        ("loci=hole_blend:2", "hole_blend must be in"),
    ],
)
def test_bad_variants_are_refused_by_name(case_frames, text, message):
    with pytest.raises(SystemExit, match=message):
        case_frames.parse_variant(text)
