"""The ``loci`` command: thin sub-commands over the library.

Errors a user can cause (bad arguments, unwritable paths, bad files) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_START = "doom:MAP01:3"
# the built-in default world: a ViZDoom start frame with its depth, walked by the learned world model
DEFAULT_WORLD = "loci"
BENCH_BACKENDS = ("engine", "copy-last", "warp", "loci")


def _cmd_demo(args: argparse.Namespace) -> None:
    from loci.demo import DemoConfig, render_demo

    cfg = DemoConfig(size=(args.height, args.width))
    out = render_demo(args.out, cfg, still=args.still)
    print(f"wrote {out.resolve()}")


def _cmd_data_generate(args: argparse.Namespace) -> None:
    from loci.data.generate import generate
    from loci.data.splits import parse_levels
    from loci.engines import make_engine

    overrides = {"size": (args.height, args.width)}
    with make_engine(args.engine, **overrides) as probe:  # fails early: missing package, bad config
        levels = parse_levels(args.levels, probe.levels())
    summary = generate(
        args.engine,
        levels,
        args.episodes,
        args.frames,
        args.out,
        policy=args.policy,
        seed=args.seed,
        workers=args.workers,
        engine_overrides=overrides,
    )
    n = len(summary["episodes"])
    print(
        f"{n} episodes in {args.out} ({summary['frames_written']} new frames, {summary['frames_per_s']:.0f} frames/s)"
    )


def _check_fps(fps: float) -> None:
    if not 0 < fps <= 240:
        raise ValueError(f"--fps must be in (0, 240], got {fps}")


def _cmd_data_show(args: argparse.Namespace) -> None:
    from loci.data.show import show_episode

    _check_fps(args.fps)
    print(f"wrote {show_episode(args.episode, args.out, fps=args.fps).resolve()}")


def _cmd_rollout(args: argparse.Namespace) -> None:
    from loci.control import Trajectory
    from loci.world.rollout import key_actions, start_session, trajectory_actions, write_rollout

    if (args.actions is None) == (args.trajectory is None):
        raise ValueError("give exactly one of --actions or --trajectory")
    if args.actions is not None:
        actions = key_actions(args.actions)
        if not actions:
            raise ValueError(f"--actions {args.actions!r} holds no key; give at least one, e.g. 'WWQQ'")
    else:
        actions = trajectory_actions(Trajectory.load(args.trajectory))
    _check_fps(args.fps)
    session = start_session(args.world, args.start, (args.height, args.width), _learned(args))
    out = write_rollout(session, actions, args.out, fps=args.fps)
    print(f"wrote {out.resolve()} and {out.with_suffix('.json').resolve()}")


def _cmd_play(args: argparse.Namespace) -> None:
    from loci.serve import PlayerConfig, run_player
    from loci.world.rollout import session_factory

    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    make_session = session_factory(args.world, args.start, (args.height, args.width), _learned(args))
    config = PlayerConfig(
        make_session=make_session,
        host=args.host,
        port=args.port,
        saves_dir=args.saves,
        allow_hosts=tuple(args.allow_host),
        allow_origins=tuple(args.allow_origin),
        max_saves=args.max_saves,
        max_saves_mb=args.max_saves_mb,
        max_sessions_per_client=args.max_sessions_per_client,
    )
    make_session()  # build once up front: a bad world or start fails here, with one clear line
    run_player(config)


def _learned(args: argparse.Namespace) -> dict:
    """WorldConfig fields from the command line: the preset, the learned backends' checkpoints and sampling."""
    return {
        "preset": args.preset,
        "tokenizer_checkpoint": args.tokenizer,
        "world_checkpoint": args.world_checkpoint,
        "dit": _dit(args),
    }


def _cmd_info(args: argparse.Namespace) -> None:
    import dataclasses
    import json

    from loci.io import file_digest
    from loci.models import SHIPPED_DEPTH, SHIPPED_LIGHT, SHIPPED_STUDENT, SHIPPED_TOKENIZER, SHIPPED_WORLD
    from loci.world import BACKENDS, backend_spec, load_preset, preset_names

    print("backends (--world):")
    for name in BACKENDS:
        spec = backend_spec(name)
        traits = [
            "learned weights" if spec.learned else "no weights",
            "starts from an image or an engine" if spec.starts_from_image else "starts from its engine only",
            f"driven by {spec.driven_by}",
        ]
        print(f"  {name:<10} {spec.summary} ({'; '.join(traits)})")
    print("\npresets (--preset; default: the start's engine's, image for an image of unknown origin):")
    for name in preset_names():
        preset = load_preset(name)
        values = {k: v for k, v in dataclasses.asdict(preset).items() if k not in ("name", "description")}
        print(f"  {name:<10} {preset.description}\n             {json.dumps(values)}")
    print("\nshipped weights (sha256):")
    for what, path in (
        ("tokenizer", SHIPPED_TOKENIZER),
        ("world", SHIPPED_WORLD),
        *((("student", SHIPPED_STUDENT),) if SHIPPED_STUDENT.is_file() else ()),
        ("depth", SHIPPED_DEPTH),
        *((f"light ({engine})", p) for engine, p in SHIPPED_LIGHT.items()),
    ):
        print(f"  {what:<16} {path.name:<28} {file_digest(path)[:16]}")


def _dit(args: argparse.Namespace):
    from loci.world import DitConfig

    optional = {k: getattr(args, k) for k in ("hole_blend", "hole_ramp", "anchor_from")}
    if args.sample_steps is not None:  # every learned backend's step count
        optional |= dict.fromkeys(("steps", "student_steps", "teacher_steps"), args.sample_steps)
    return DitConfig(memory=args.memory, **{k: v for k, v in optional.items() if v is not None})


def _world_help() -> str:
    from loci.world import BACKENDS

    return f"backend: {', '.join(BACKENDS)} (default: %(default)s; loci info describes them)"


def _add_learned_args(p: argparse.ArgumentParser) -> None:
    from loci.world.preset import preset_names

    p.add_argument(
        "--preset",
        default=None,
        help=f"the world preset, the tuned values the world runs with: {', '.join(preset_names())} "
        "(loci info shows them) or a .json path (default: the preset of the start's engine)",
    )
    p.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer checkpoint of a learned --world (default: the shipped one)",
    )
    p.add_argument(
        "--world-checkpoint",
        default=None,
        help="world-model checkpoint of a learned --world (default: the shipped world model; for "
        "student, the shipped student)",
    )
    p.add_argument(
        "--sample-steps",
        type=int,
        default=None,
        help="denoising steps per frame of a learned --world (default: loci, dit 2; teacher 8; student 4)",
    )
    p.add_argument(
        "--memory",
        default="latent",
        choices=("latent", "points"),
        help="memory condition of --world loci: the latent memory or the RGB point memory, encoded",
    )
    p.add_argument(
        "--hole-blend",
        type=float,
        default=None,
        help="share of the generator's pixels in the disocclusions of --world loci, the rest inpainted "
        "(default: the preset's)",
    )
    p.add_argument(
        "--hole-ramp",
        type=float,
        default=None,
        help="pixels over which that share ramps up from 0 at a disocclusion's border (default: the preset's)",
    )
    p.add_argument(
        "--anchor-from",
        choices=("memory", "fill"),
        default=None,
        help="latents kept where the memory is valid while sampling: the memory's own or the encoded "
        "inpainted render (default: the preset's)",
    )


def _bench_markdown(args: argparse.Namespace) -> Path | None:
    """Where the table goes: ``--markdown`` when given ('' = nowhere); by default BENCHMARKS.md, but
    only for a whole suite (default backends, engines and modes): a partial run would overwrite the
    suite's block with a part of it."""
    if args.markdown is not None:
        return Path(args.markdown) if args.markdown else None
    whole = (args.backends, args.engines, args.modes) == (
        ",".join(BENCH_BACKENDS),
        "vizdoom,miniworld",
        "rgbd,rgb",
    )
    if not whole:
        print("a partial suite: its table is not written into BENCHMARKS.md (--markdown PATH writes it)")
    return Path("BENCHMARKS.md") if whole else None


def _cmd_bench(args: argparse.Namespace) -> None:
    from pathlib import Path

    from loci.eval.bench import BenchConfig, run_bench

    modes = tuple(args.modes.split(","))
    if set(modes) - {"rgbd", "rgb"}:  # '' splits to ('',), refused here too
        raise ValueError(f"--modes must be rgbd, rgb or both (comma-separated), got {args.modes!r}")
    cfg = BenchConfig(
        quick=args.quick,
        backends=tuple(args.backends.split(",")),
        engines=tuple(args.engines.split(",")),
        modes=modes,
        out=Path(args.out),
        markdown=_bench_markdown(args),
        command="loci bench"
        + (" --quick" if args.quick else "")
        + (f" --backends {args.backends}" if args.backends != ",".join(BENCH_BACKENDS) else "")
        + (f" --engines {args.engines}" if args.engines != "vizdoom,miniworld" else "")
        + (f" --modes {args.modes}" if args.modes != "rgbd,rgb" else "")
        + (f" --hole-blend {args.hole_blend}" if args.hole_blend is not None else "")
        + (f" --hole-ramp {args.hole_ramp}" if args.hole_ramp is not None else "")
        + (f" --anchor-from {args.anchor_from}" if args.anchor_from is not None else ""),
        learned=_learned(args),
    )
    results = run_bench(cfg)
    print(f"{len(results['rows'])} runs in {results['seconds']:.0f} s; results in {Path(args.out).resolve()}")
    if cfg.markdown:
        print(f"table written to {cfg.markdown.resolve()}")


def _cmd_train(args: argparse.Namespace) -> None:
    if args.model == "tokenizer":
        from loci.training.tokenizer import load_train_config, train_tokenizer

        path = train_tokenizer(load_train_config(args.config))
    elif args.model == "light":
        from loci.training.light import load_light_config, train_light

        path = train_light(load_light_config(args.config))
    elif args.model == "depth":
        from loci.training.depth import load_depth_config, train_depth

        path = train_depth(load_depth_config(args.config))
    elif args.model == "student":
        from loci.training.student import load_student_config, train_student

        path = train_student(load_student_config(args.config))
    else:
        from loci.training.world import load_world_config, train_world

        path = train_world(load_world_config(args.config))
    print(f"checkpoint: {Path(path).resolve()}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loci", description="Interactive 4D world models grounded in geometry.")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="render a walk through the built-in synthetic room to an MP4")
    demo.add_argument("--out", default="outputs/demo.mp4", help="MP4 path (default: %(default)s)")
    demo.add_argument("--still", default=None, help="also write a PNG strip of frames here")
    demo.add_argument("--height", type=int, default=240)
    demo.add_argument("--width", type=int, default=320)
    demo.set_defaults(func=_cmd_demo)

    play = sub.add_parser("play", help="walk through a world in the browser (W/A/S/D/Q/E/R/F)")
    play.add_argument(
        "--world",
        default=DEFAULT_WORLD,
        help=_world_help(),
    )
    play.add_argument(
        "--start", default=DEFAULT_START, help="doom:MAP01[:seed], miniworld:OneRoom[:seed], synthetic:room"
    )
    play.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback only)")
    play.add_argument("--port", type=int, default=8765)
    play.add_argument("--saves", default="outputs/sessions", help="where saved worlds go")
    play.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to serve besides loopback and --host (repeatable; e.g. the machine's LAN name)",
    )
    play.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a page origin (http://name:port) whose WebSockets are accepted besides the player's own (repeatable)",
    )
    play.add_argument(
        "--max-saves", type=int, default=100, help="saved worlds kept at most (default: %(default)s)"
    )
    play.add_argument(
        "--max-saves-mb",
        type=float,
        default=2048.0,
        help="total size of saved worlds, MiB (default: %(default)s)",
    )
    play.add_argument(
        "--max-sessions-per-client",
        type=int,
        default=4,
        help="sessions one client address may hold (default: %(default)s)",
    )
    play.add_argument("--height", type=int, default=120)
    play.add_argument("--width", type=int, default=160)
    play.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the worlds (0: torch's default, one per core, which is slower here: the "
        "worlds step in the player's worker thread; benchmarks/player.py compares them)",
    )
    _add_learned_args(play)
    play.set_defaults(func=_cmd_play)

    roll = sub.add_parser("rollout", help="drive a world with keys or a trajectory; write MP4 + poses JSON")
    roll.add_argument(
        "--world",
        default=DEFAULT_WORLD,
        help=_world_help(),
    )
    roll.add_argument(
        "--start", default="doom:MAP01", help="doom:MAP01[:seed], miniworld:OneRoom[:seed], synthetic:room"
    )
    roll.add_argument("--actions", default=None, help='one step per key, e.g. "WWWWQQDD"')
    roll.add_argument("--trajectory", default=None, help="a trajectory JSON (loci.control.Trajectory)")
    roll.add_argument("--out", default="outputs/rollout.mp4")
    roll.add_argument("--fps", type=float, default=15.0)
    roll.add_argument("--height", type=int, default=120)
    roll.add_argument("--width", type=int, default=160)
    _add_learned_args(roll)
    roll.set_defaults(func=_cmd_rollout)

    bench = sub.add_parser("bench", help="benchmark world backends against the engines on held-out levels")
    bench.add_argument("--quick", action="store_true", help="the short suite (a few minutes on 2 cores)")
    bench.add_argument("--backends", default=",".join(BENCH_BACKENDS))
    bench.add_argument("--engines", default="vizdoom,miniworld")
    bench.add_argument(
        "--modes", default="rgbd,rgb", help="starts: rgbd (with the true depth), rgb (image only)"
    )
    bench.add_argument("--out", default="outputs/bench")
    bench.add_argument(
        "--markdown",
        default=None,
        help="Markdown table path ('' to skip; default: BENCHMARKS.md's block of the suite, for a whole suite only)",
    )
    _add_learned_args(bench)
    bench.set_defaults(func=_cmd_bench)

    info = sub.add_parser("info", help="the backends, the world presets and the shipped weights")
    info.set_defaults(func=_cmd_info)

    train = sub.add_parser(
        "train",
        help="train the tokenizer, the world model, its few-step student (Self-Forcing + DMD) or the depth "
        "net, or fit the light falloff, from a JSON config",
    )
    train.add_argument("model", choices=("tokenizer", "world", "student", "depth", "light"))
    train.add_argument("--config", required=True, help="e.g. configs/tokenizer_tiny.json")
    train.set_defaults(func=_cmd_train)

    data = sub.add_parser("data", help="ground-truth episode datasets from engines").add_subparsers(
        dest="data_command", required=True
    )
    gen = data.add_parser("generate", help="play scripted policies in an engine and write episodes")
    gen.add_argument("--engine", required=True, help="vizdoom, miniworld or synthetic")
    gen.add_argument("--levels", required=True, help="e.g. MAP01-MAP24 or OneRoom,Hallway or room")
    gen.add_argument("--episodes", type=int, required=True)
    gen.add_argument("--frames", type=int, required=True, help="frames per episode")
    gen.add_argument(
        "--policy",
        default="random_walk",
        help="random_walk, corridor, look_around, loop_back, detour_revisit or mix",
    )
    gen.add_argument("--out", required=True, help="dataset directory")
    gen.add_argument("--workers", type=int, default=2)
    gen.add_argument("--seed", type=int, default=0, help="episode i uses seed + i")
    gen.add_argument("--height", type=int, default=120)
    gen.add_argument("--width", type=int, default=160)
    gen.set_defaults(func=_cmd_data_generate)
    show = data.add_parser("show", help="render an episode to MP4: RGB | depth | top-down map")
    show.add_argument("episode", help="an episode directory")
    show.add_argument("--out", default=None, help="MP4 path (default: beside the episode)")
    show.add_argument("--fps", type=float, default=15.0)
    show.set_defaults(func=_cmd_data_show)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError, RuntimeError) as err:
        print(f"loci {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"loci {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
