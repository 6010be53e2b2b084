"""Episode format, dataset windows, splits and generation, on the synthetic engine (exact ground truth)."""

import json
import os
import shutil

import numpy as np
import pytest
import torch

from loci.data.dataset import WindowDataset
from loci.data.episode import Episode, EpisodeMeta, EpisodeWriter, list_episodes
from loci.data.generate import generate, plan_jobs, run_episode
from loci.data.splits import parse_levels, split_of
from loci.engines import make_engine
from loci.geometry import relative_pose

SIZE = (30, 40)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    generate(
        "synthetic",
        ["room"],
        3,
        12,
        out,
        policy="mix",
        workers=1,
        engine_overrides={"size": SIZE},
        progress=False,
    )
    return out


def test_generated_episodes_round_trip_the_engine(dataset_dir):
    paths = list_episodes(dataset_dir)
    assert [p.name for p in paths] == [
        "synthetic-room-s000000-random_walk",
        "synthetic-room-s000001-corridor",
        "synthetic-room-s000002-look_around",
    ]
    ep = Episode(paths[1])
    assert len(ep) == 12 and ep.meta.split == "train" and ep.meta.size == SIZE
    # Replay the same actions on a fresh engine: the stored frames are the engine's frames.
    engine = make_engine("synthetic", size=SIZE)
    obs = engine.reset("room", ep.meta.seed)
    for t, action in enumerate(ep.actions):
        if t:
            obs = engine.step(action)
        np.testing.assert_array_equal(ep.rgb[t], obs.rgb)
        np.testing.assert_allclose(ep.depth[t].astype(np.float32), obs.depth, rtol=1e-3)
        np.testing.assert_array_equal(ep.poses[t], obs.pose)
        np.testing.assert_array_equal(ep.K[t], obs.K)
    assert ep.actions[0] == "" and all(a for a in ep.actions[1:])


def test_arrays_are_memory_mapped(dataset_dir):
    ep = Episode(list_episodes(dataset_dir)[0])
    assert isinstance(ep.rgb, np.memmap) and isinstance(ep.depth, np.memmap)


def test_window_dataset_shapes_stride_and_rebase(dataset_dir):
    ds = WindowDataset(dataset_dir, window=4, stride=2, step=3)
    # span 7 frames in 12: starts 0, 3 per episode -> 2 windows x 3 episodes
    assert len(ds) == 6
    item = ds[1]
    assert item["rgb"].shape == (4, 3, *SIZE) and item["rgb"].dtype == torch.float32
    assert -1 <= float(item["rgb"].min()) and float(item["rgb"].max()) <= 1
    assert item["depth"].shape == (4, *SIZE) and item["poses"].shape == (4, 4, 4)
    torch.testing.assert_close(item["poses"][0], torch.eye(4), atol=1e-5, rtol=0)
    ep = Episode(ds.episodes[0])
    raw = torch.from_numpy(np.array(ep.poses[3:10:2]))
    torch.testing.assert_close(relative_pose(raw[0], raw[2]), item["poses"][2], atol=1e-4, rtol=0)
    assert item["actions"] == ep.actions[3:10:2] and item["start"] == 3
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)
    batch = next(iter(loader))
    assert batch["rgb"].shape == (2, 4, 3, *SIZE)


def test_split_and_engine_filters(dataset_dir):
    assert len(WindowDataset(dataset_dir, window=2, split="test")) == 0
    assert len(WindowDataset(dataset_dir, window=2, split="train")) > 0
    assert len(WindowDataset(dataset_dir, window=2, engines=["vizdoom"])) == 0


def test_window_dataset_mixes_several_roots(dataset_dir, tmp_path):
    other = tmp_path / "other"
    generate("synthetic", ["room"], 2, 9, other, workers=1, engine_overrides={"size": SIZE}, progress=False)
    mixed = WindowDataset([dataset_dir, str(other)], window=4, step=4)
    # 12-frame episodes give starts 0, 4, 8; 9-frame ones 0, 4: 3 x 3 + 2 x 2 windows
    assert len(mixed) == 13 == len(WindowDataset(dataset_dir, window=4, step=4)) + 4
    assert mixed.episodes == list_episodes(dataset_dir) + list_episodes(other)
    np.testing.assert_array_equal(
        mixed[len(mixed) - 1]["rgb"].numpy(), WindowDataset(other, window=4, step=4)[3]["rgb"].numpy()
    )
    with pytest.raises(ValueError, match="no dataset directory"):
        WindowDataset([], window=2)
    with pytest.raises(FileNotFoundError, match="missing"):
        WindowDataset([dataset_dir, tmp_path / "missing"], window=2)


def test_splits_are_fixed():
    assert split_of("vizdoom", "MAP24", 5) == "train" and split_of("vizdoom", "MAP25", 5) == "test"
    assert split_of("miniworld", "OneRoom", 3) == "train"
    assert split_of("miniworld", "OneRoom", 10**6) == "test"
    assert split_of("miniworld", "FourRooms", 3) == "test"
    with pytest.raises(ValueError, match="split"):
        split_of("quake", "e1m1", 0)


def test_parse_levels():
    valid = [f"MAP{i:02d}" for i in range(1, 33)]
    assert parse_levels("MAP01-MAP03,MAP30", valid) == ["MAP01", "MAP02", "MAP03", "MAP30"]
    with pytest.raises(ValueError, match="MAP33"):
        parse_levels("MAP30-MAP33", valid)
    with pytest.raises(ValueError, match="no levels"):
        parse_levels(" , ", valid)


def test_interrupted_writes_leave_no_episode(tmp_path):
    engine = make_engine("synthetic", size=SIZE)

    class Boom(RuntimeError):
        pass

    obs = engine.reset("room", 0)
    meta = EpisodeMeta("synthetic", "room", 0, "random_walk", "train", 5, SIZE)
    with pytest.raises(Boom), EpisodeWriter(tmp_path, meta) as w:
        w.append(obs)
        raise Boom
    assert list(tmp_path.iterdir()) == []
    # A crash half-way through saving leaves only a hidden temp dir, which readers ignore and
    # the next generate() clears.
    (tmp_path / ".tmp-synthetic-room-s000000-random_walk-1").mkdir()
    assert list_episodes(tmp_path) == []
    generate(
        "synthetic", ["room"], 1, 3, tmp_path, workers=1, engine_overrides={"size": SIZE}, progress=False
    )
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic-room-s000000-random_walk"]


def test_generate_resumes_and_is_deterministic(tmp_path):
    kw = {"workers": 1, "engine_overrides": {"size": SIZE}, "progress": False}
    a = generate("synthetic", ["room"], 2, 6, tmp_path / "a", **kw)
    again = generate("synthetic", ["room"], 2, 6, tmp_path / "a", **kw)
    assert again["frames_written"] == 0 and again["episodes"] == a["episodes"]
    generate("synthetic", ["room"], 2, 6, tmp_path / "b", **kw)
    for name in os.listdir(tmp_path / "a"):
        np.testing.assert_array_equal(Episode(tmp_path / "a" / name).rgb, Episode(tmp_path / "b" / name).rgb)


def test_parallel_workers_write_the_same_episodes(tmp_path):
    kw = {"engine_overrides": {"size": SIZE}, "progress": False}
    generate("synthetic", ["room"], 2, 4, tmp_path / "one", workers=1, **kw)
    generate("synthetic", ["room"], 2, 4, tmp_path / "two", workers=2, **kw)
    for name in os.listdir(tmp_path / "one"):
        np.testing.assert_array_equal(
            Episode(tmp_path / "one" / name).poses, Episode(tmp_path / "two" / name).poses
        )


def test_corrupt_episodes_give_clear_errors(dataset_dir, tmp_path):
    src = list_episodes(dataset_dir)[0]
    bad = tmp_path / src.name
    shutil.copytree(src, bad)
    np.save(bad / "depth.npy", np.zeros((3, 2), np.float16))
    with pytest.raises(ValueError, match=r"depth\.npy"):
        _ = Episode(bad).depth
    (bad / "rgb.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"rgb\.npy"):
        _ = Episode(bad).rgb
    meta = json.loads((bad / "meta.json").read_text())
    meta["surprise"] = 1
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown fields"):
        Episode(bad)
    (bad / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Episode(bad)


def test_plan_jobs_and_bad_arguments(tmp_path):
    jobs = plan_jobs("synthetic", ["a", "b"], 4, 10, "mix", 7)
    assert [j.level for j in jobs] == ["a", "b", "a", "b"] and [j.seed for j in jobs] == [7, 8, 9, 10]
    assert len({j.policy for j in jobs}) == 4
    with pytest.raises(ValueError, match="policy"):
        plan_jobs("synthetic", ["a"], 1, 10, "teleport", 0)
    with pytest.raises(ValueError, match="engine"):
        generate("quake", ["e1m1"], 1, 3, tmp_path)
    with pytest.raises(ValueError, match="level"):
        run_episode(
            make_engine("synthetic", size=SIZE),
            plan_jobs("synthetic", ["MAP01"], 1, 3, "corridor", 0)[0],
            tmp_path,
        )
    assert list_episodes(tmp_path) == []


def test_an_engine_ending_the_episode_keeps_the_frames_so_far(tmp_path):
    """Doom ends episodes by itself (death, level exit): the episode is written short, and says so."""
    from loci.engines import EpisodeEnded
    from loci.engines.synthetic import SyntheticEngine

    class Ending(SyntheticEngine):
        def step(self, action):
            if self._index >= 4:
                raise EpisodeEnded("the player left the level")
            return super().step(action)

    from loci.engines.synthetic import SyntheticConfig

    engine = Ending(SyntheticConfig(size=SIZE))
    path = run_episode(engine, plan_jobs("synthetic", ["room"], 1, 10, "corridor", 0)[0], tmp_path)
    ep = Episode(path)
    assert len(ep) == 5 and ep.meta.ended_early and ep.rgb.shape[0] == 5
