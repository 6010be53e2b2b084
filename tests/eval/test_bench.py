"""The benchmark harness end to end on the synthetic engine: the oracle is perfect, runs are deterministic."""

import json
import math

import pytest

from loci.eval.bench import BenchConfig, run_bench
from loci.eval.score import horizon_buckets
from loci.eval.suite import Case, Scenario, build_suite, scenarios

CASES = [
    Case("synthetic", "room", 1_000_000, Scenario("straight", 18, keys="W")),
    Case("synthetic", "room", 1_000_001, Scenario("loop_back", 40, policy="loop_back")),
]
TIMING = {"steps_per_s", "peak_rss_mb", "memory_mb"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cfg = BenchConfig(engines=("synthetic",), out=out, markdown=out / "BENCH.md", videos=1)
    return run_bench(cfg, CASES), out


def test_engine_oracle_is_perfect_and_baselines_are_not(results):
    res, _ = results
    rows = [r for r in res["rows"] if "error" not in r]
    engine = [r for r in rows if r["backend"] == "engine"]
    assert engine and all(r["psnr@16"] == 100 and r["depth_absrel"] == 0 for r in engine)
    warp = [r for r in rows if r["backend"] == "warp"]
    copy = [r for r in rows if r["backend"] == "copy-last" and r["mode"] == "rgbd"]
    assert all(r["psnr@16"] < 100 for r in warp + copy)
    # exact depth on the synthetic room: the geometric world beats repeating the last frame
    assert sum(r["tf_psnr"] for r in warp) > sum(r["tf_psnr"] for r in copy)
    # WorldScape's binary Trajectory Accuracy: a case is accurate when its mean similarity reaches τ
    assert all(r["trajectory_accurate"] == float(r["trajectory_accuracy"] >= 0.55) for r in rows)
    errors = {(r["backend"], r["mode"]) for r in res["rows"] if "error" in r}
    assert ("engine", "rgb") in errors  # a run that cannot happen is reported, not hidden
    # without the start depth the warp world starts from the depth net's prediction
    warp_rgb = [r for r in res["rows"] if (r["backend"], r["mode"]) == ("warp", "rgb")]
    assert warp_rgb and all("error" not in r and 0 < r["psnr@16"] < 100 for r in warp_rgb)


def test_outputs_are_written(results):
    res, out = results
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["rows"]) == len(res["rows"])
    md = (out / "BENCH.md").read_text()
    assert "| warp | rgbd |" in md and "| copy-last | rgb |" in md and "Not run:" in md
    assert md.count("<!-- begin loci bench: full suite -->") == 1
    assert (out / "psnr_horizon.png").stat().st_size > 1000
    assert any(p.suffix == ".mp4" for p in (out / "videos").iterdir())


def test_same_seed_same_numbers(results, tmp_path):
    res, _ = results
    again = run_bench(BenchConfig(engines=("synthetic",), out=tmp_path, markdown=None, videos=0), CASES)
    for a, b in zip(res["rows"], again["rows"], strict=True):
        for k in set(a) - TIMING:
            va, vb = a[k], b[k]
            assert va == vb or (isinstance(va, float) and math.isnan(va) and math.isnan(vb)), k


def test_suite_uses_only_held_out_levels():
    suite = build_suite(False)
    assert {c.level for c in suite if c.engine == "vizdoom"} == {f"MAP{i}" for i in range(25, 33)}
    assert all(
        c.seed >= 1_000_000 or c.level in ("FourRooms", "MazeS3") for c in suite if c.engine == "miniworld"
    )
    quick = build_suite(True)
    for engine, levels in (("vizdoom", 5), ("miniworld", 4)):  # each scenario once, the levels in turn
        cases = [c for c in quick if c.engine == engine]
        assert sorted(c.scenario.name for c in cases) == sorted(sc.name for sc in scenarios(2))
        assert len({c.level for c in cases}) == levels
        assert {(c.level, c.seed) for c in cases} <= {(c.level, c.seed) for c in suite}
    names = {c.scenario.name: c.scenario.frames for c in suite}
    assert names["loop_back"] >= 128 and names["random_walk"] >= 256
    assert horizon_buckets(20) == [(1, 1, 1), (16, 2, 16), (64, 17, 19)]
