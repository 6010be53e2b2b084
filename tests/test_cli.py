"""The ``loci`` command as a user runs it: outputs exist, bad input is one line and exit code 2."""

import av
import pytest

from loci.cli import main


def frames_of(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_demo_writes_an_mp4_and_a_still(tmp_path, capsys):
    out, still = tmp_path / "demo.mp4", tmp_path / "demo.png"
    assert main(["demo", "--out", str(out), "--still", str(still), "--height", "48", "--width", "64"]) == 0
    frames = frames_of(out)
    assert len(frames) > 40 and frames[0].shape == (48, 64 * 2 + 2, 3)
    assert still.stat().st_size > 0
    assert str(out.resolve()) in capsys.readouterr().out


def test_data_generate_and_show(tmp_path, capsys):
    ds = tmp_path / "ds"
    args = [
        "data",
        "generate",
        "--engine",
        "synthetic",
        "--levels",
        "room",
        "--episodes",
        "2",
        "--frames",
        "6",
    ]
    assert main([*args, "--out", str(ds), "--workers", "1", "--height", "30", "--width", "40"]) == 0
    episodes = sorted(p for p in ds.iterdir())
    assert len(episodes) == 2
    assert main(["data", "show", str(episodes[0]), "--out", str(tmp_path / "ep.mp4")]) == 0
    frames = frames_of(tmp_path / "ep.mp4")
    assert len(frames) == 6 and frames[0].shape[0] == 30


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--engine", "quake", "--levels", "e1m1"], "unknown engine"),
        (["--engine", "synthetic", "--levels", "MAP01"], "unknown level"),
        (["--engine", "synthetic", "--levels", "room", "--policy", "teleport"], "unknown policy"),
    ],
)
def test_data_generate_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    out = tmp_path / "ds"
    code = main(
        ["data", "generate", *argv, "--episodes", "1", "--frames", "3", "--out", str(out), "--workers", "1"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not out.exists()


def test_unwritable_output_and_missing_episode(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(
        [
            "data",
            "generate",
            "--engine",
            "synthetic",
            "--levels",
            "room",
            "--episodes",
            "1",
            "--frames",
            "3",
            "--out",
            str(blocker / "ds"),
        ]
    )
    assert code == 2 and "output directory" in capsys.readouterr().err
    assert main(["data", "show", str(tmp_path / "nothing")]) == 2
    assert "not an episode" in capsys.readouterr().err


def test_bench_refuses_unknown_start_modes(capsys):
    assert main(["bench", "--quick", "--modes", "rgbd,depth"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--modes must be rgbd, rgb or both" in err


def test_the_disocclusion_settings_reach_the_learned_world_and_are_checked(capsys):
    import argparse

    from loci.cli import _dit
    from loci.world import DitConfig

    args = argparse.Namespace(
        sample_steps=2, memory="latent", hole_blend=0.25, hole_ramp=6.0, anchor_from="fill"
    )
    assert (_dit(args).hole_blend, _dit(args).hole_ramp, _dit(args).anchor_from) == (0.25, 6.0, "fill")
    unset = argparse.Namespace(
        sample_steps=2, memory="latent", hole_blend=None, hole_ramp=None, anchor_from=None
    )
    fields = ("hole_blend", "hole_ramp", "anchor_from")
    assert [getattr(_dit(unset), k) for k in fields] == [getattr(DitConfig(), k) for k in fields]
    steps = ("steps", "student_steps", "teacher_steps")
    one = argparse.Namespace(
        **{**vars(unset), "sample_steps": 1}
    )  # --sample-steps reaches every learned backend
    assert [getattr(_dit(one), k) for k in steps] == [1, 1, 1]
    default = argparse.Namespace(**{**vars(unset), "sample_steps": None})
    assert [getattr(_dit(default), k) for k in steps] == [getattr(DitConfig(), k) for k in steps]
    with pytest.raises(SystemExit):  # argparse refuses a choice it does not know, by name
        main(["bench", "--quick", "--backends", "loci", "--anchor-from", "noise"])
    assert "--anchor-from: invalid choice: 'noise'" in capsys.readouterr().err
    assert main(["bench", "--quick", "--backends", "loci", "--hole-blend", "2"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "hole_blend must be in [0, 1], got 2.0" in err
    assert main(["bench", "--quick", "--backends", "loci", "--hole-ramp", "-1"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "hole_ramp must be None or >= 0 pixels, got -1.0" in err


def test_play_refuses_a_negative_thread_count(capsys):
    assert main(["play", "--threads", "-1"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--threads must be >= 0" in err


PLAY = ["play", "--world", "copy-last", "--start", "synthetic:room"]


def test_info_lists_the_backends_presets_and_weights(capsys):
    from loci.world import BACKENDS, load_preset, preset_names

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in (*BACKENDS, *preset_names()):
        assert f"  {name} " in out
    assert load_preset("miniworld").description in out
    assert "world_doom.safetensors" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rollout", "--world", "copy-last", "--start", "synthetic:room", "--actions", ""], "holds no key"),
        (
            ["rollout", "--world", "copy-last", "--start", "synthetic:room", "--actions", "W", "--fps", "0"],
            "--fps",
        ),
        (["bench", "--quick", "--backends", "nosuch"], "unknown backend(s) 'nosuch'; valid: warp"),
        (["bench", "--quick", "--backends", "warp,warp"], "backends named twice"),
        (["bench", "--quick", "--engines", "quake"], "unknown engine(s) 'quake'"),
        ([*PLAY, "--allow-origin", "evil.example"], "allow_origins entries look like http://host:port"),
        ([*PLAY, "--max-saves", "0"], "max_saves must be >= 1"),
        ([*PLAY, "--max-sessions-per-client", "0"], "max_sessions_per_client must be >= 1"),
        ([*PLAY, "--preset", "quake"], "unknown world preset 'quake'; shipped: image, miniworld, vizdoom"),
        (["play", "--world", "wrap", "--start", "synthetic:room"], "unknown backend 'wrap'; valid: warp"),
    ],
)
def test_bad_command_lines_fail_fast_with_one_line(tmp_path, capsys, argv, message):
    """Each was a traceback, a silent acceptance or a failure after minutes of work."""
    import time

    t0 = time.perf_counter()
    code = main([*argv, *(["--out", str(tmp_path / "o.mp4")] if argv[0] == "rollout" else [])])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o.mp4").exists()
    print(f"{argv[0]} refused in {time.perf_counter() - t0:.2f} s")


def test_a_partial_bench_does_not_overwrite_the_suite_table(capsys):
    from loci.cli import _bench_markdown, build_parser

    def target(*extra):
        return _bench_markdown(build_parser().parse_args(["bench", *extra]))

    assert str(target()) == "BENCHMARKS.md" and str(target("--quick")) == "BENCHMARKS.md"
    assert target("--backends", "loci") is None and target("--engines", "vizdoom") is None
    assert target("--modes", "rgbd") is None
    assert "not written into BENCHMARKS.md" in capsys.readouterr().out
    assert str(target("--backends", "loci", "--markdown", "x.md")) == "x.md"
    assert target("--markdown", "") is None
