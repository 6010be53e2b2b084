"""Trajectory: validation, exact JSON round trip, corrupt files rejected, atomic writes."""

import json
import os

import pytest
import torch

from loci.control import Trajectory, from_keys, random_walk
from loci.geometry import intrinsics_from_fov

K = intrinsics_from_fov((240, 320), fov_x_deg=90.0)


def _traj() -> Trajectory:
    t = random_walk(None, 12, seed=3, K=K, name="walk 3")
    assert t.actions is not None
    return t


def test_save_load_round_trip_is_exact(tmp_path):
    t = _traj()
    path = t.save(tmp_path / "t.json")
    back = Trajectory.load(path)
    assert torch.equal(back.poses, t.poses) and back.poses.dtype == torch.float32
    assert back.K is not None and torch.equal(back.K, t.K)
    assert back.actions == t.actions and back.name == t.name
    bare = Trajectory(torch.eye(4)[None])
    bare.save(tmp_path / "b.json")
    again = Trajectory.load(tmp_path / "b.json")
    assert again.K is None and again.actions is None and len(again) == 1


def test_atomic_save_leaves_no_temp_file(tmp_path, monkeypatch):
    t = _traj()
    t.save(tmp_path / "t.json")
    assert os.listdir(tmp_path) == ["t.json"]
    before = (tmp_path / "t.json").read_text()

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        from_keys(None, "WWQ").save(tmp_path / "t.json")
    assert os.listdir(tmp_path) == ["t.json"]
    assert (tmp_path / "t.json").read_text() == before


def _write(tmp_path, data) -> str:
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _good() -> dict:
    return _traj().to_dict()


def _mutate(**changes) -> dict:
    d = _good()
    for k, v in changes.items():
        if v is ...:
            del d[k]
        else:
            d[k] = v
    return d


def _rotated_badly() -> dict:
    d = _good()
    d["poses"][2][0][0] = 1.5
    return d


def _nan_pose() -> str:
    return json.dumps(_good()).replace("[[[1.0", "[[[NaN", 1)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ('{"poses": [[[1, 0', "Expecting|delimiter|Unterminated"),
        ("", "Expecting value"),
        ("[1, 2]", "JSON object"),
        (_mutate(poses=...), "missing field 'poses'"),
        (_mutate(name=...), "missing field 'name'"),
        (_mutate(format=...), "missing field 'format'"),
        (_mutate(format="other"), "unsupported format"),
        (_mutate(version=7), "unsupported format"),
        (_mutate(poses="eye"), "poses must be a nested list"),
        (_mutate(poses=[[[1, 0, 0, 0]] * 4, [[1, 0, 0]] * 4]), "regular shape"),
        (_mutate(poses=[[["a"] * 4] * 4]), "nested list of numbers"),
        (_mutate(poses=[[[1, 0, 0, 0]] * 3]), "shape"),
        (_mutate(poses=[]), "shape"),
        (_rotated_badly(), "orthonormal"),
        (_nan_pose(), "non-finite"),
        (_mutate(K=[[1, 0], [0, 1]]), "K must have shape"),
        (_mutate(K=[[-5, 0, 1], [0, 5, 1], [0, 0, 1]]), "focal"),
        (_mutate(actions=["W"]), "T - 1"),
        (_mutate(actions="WWW"), "list of strings"),
        (_mutate(actions=[1] * 12), "list of strings"),
        (_mutate(name=5), "name must be a str"),
    ],
)
def test_corrupt_or_malformed_files_raise_value_error(tmp_path, data, match):
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=match) as info:
        Trajectory.load(path)
    assert "bad.json" in str(info.value)


def test_reflection_is_rejected():
    pose = torch.eye(4)
    pose[0, 0] = -1.0
    with pytest.raises(ValueError, match="reflection"):
        Trajectory(pose[None])


def test_constructor_validates_and_normalises():
    t = Trajectory(torch.eye(4, dtype=torch.float64).expand(3, 4, 4), actions=("W", "Q"))
    assert t.poses.dtype == torch.float32 and t.actions == ["W", "Q"] and len(t) == 3
    assert torch.equal(t.deltas(), torch.eye(4).expand(2, 4, 4))
    with pytest.raises(ValueError, match="T >= 1"):
        Trajectory(torch.eye(4))
    with pytest.raises(ValueError, match="T - 1"):
        Trajectory(torch.eye(4).expand(3, 4, 4), actions=["W"])


def test_deltas_rebuild_the_poses():
    t = from_keys(None, ["WQ", "R", "DE", "W"])
    rebuilt = t.poses[0].double()
    for i, d in enumerate(t.deltas()):
        rebuilt = rebuilt @ d.double()
        assert torch.allclose(rebuilt.float(), t.poses[i + 1], atol=1e-5)
