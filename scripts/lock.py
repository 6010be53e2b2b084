"""Write or check the dependency locks in locks/ (uv pip compile, with hashes).

    python scripts/lock.py            # re-resolve; pins already in the locks are kept (make lock)
    python scripts/lock.py --upgrade  # re-resolve every package to its newest allowed release
    python scripts/lock.py --check    # fail when a lock no longer matches pyproject.toml (CI)

Groups, each a complete, hashed requirements file that ``pip install --require-hashes`` takes:

- ``locks/main.txt``: what ``loci play`` needs (pyproject's dependencies), with the installer and
  the build backend (``locks/build.in``);
- ``locks/dev.txt``: that plus the ``dev`` extra (tests, lint, the browser test, uv itself),
  resolved under main.txt's pins so both groups agree on every shared package.

The locks target CPython 3.11 on Linux x86_64 (manylinux_2_28). torch is the CPU build,
``torch==2.13.0+cpu``, taken from ``--find-links`` (``TORCH_WHEELS``, default ``/opt/wheels``); the
other packages come from PyPI only, whatever the machine's pip configuration says.

``--check`` resolves again into a scratch copy of the locks (so their pins are the preferences) and
compares the pinned ``name==version`` sets: a dependency added to, removed from or re-ranged in
pyproject.toml that the locks do not satisfy fails it. Hashes are not compared: PyPI may add a wheel
to an old release, which changes no pin.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "locks"
INDEX = "https://pypi.org/simple"
TARGET = ("--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def groups(torch_wheels: str) -> list[tuple[str, list[str]]]:
    """``(lock file name, uv pip compile arguments)`` per group, in resolution order."""
    common = [
        *TARGET,
        "--generate-hashes",
        "--no-config",
        "--index-url",
        INDEX,
        "--find-links",
        torch_wheels,
        "--custom-compile-command",
        "make lock",
    ]
    return [
        ("main.txt", ["pyproject.toml", "locks/build.in", *common]),
        ("dev.txt", ["pyproject.toml", "locks/build.in", "--extra", "dev", "-c", "{out}/main.txt", *common]),
    ]


def pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of a requirements lock."""
    out = {}
    for line in path.read_text().splitlines():
        if m := PIN.match(line):
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def compile_into(out: Path, uv: str, torch_wheels: str, upgrade: bool) -> None:
    """Resolve every group into ``out/`` (existing files there are the pin preferences)."""
    for name, args in groups(torch_wheels):
        where = os.path.relpath(out, ROOT) if out.is_relative_to(ROOT) else str(out)
        args = [a.replace("{out}", where) for a in args]
        cmd = [uv, "pip", "compile", *args, "-o", f"{where}/{name}", "--quiet"]
        if upgrade:
            cmd.append("--upgrade")
        subprocess.run(cmd, cwd=ROOT, check=True)


def check(uv: str, torch_wheels: str) -> int:
    """0 when the committed locks match what pyproject.toml resolves to, else 1 (with a diff)."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for name, _ in groups(torch_wheels):
            if not (LOCKS / name).is_file():
                print(f"lock check: locks/{name} is missing; run `make lock`", file=sys.stderr)
                return 1
            shutil.copy(LOCKS / name, scratch / name)
        compile_into(scratch, uv, torch_wheels, upgrade=False)
        bad = 0
        for name, _ in groups(torch_wheels):
            have, want = pins(LOCKS / name), pins(scratch / name)
            if have != want:
                bad = 1
                print(
                    f"lock check: locks/{name} does not match pyproject.toml; run `make lock`",
                    file=sys.stderr,
                )
                for pkg in sorted(set(have) | set(want)):
                    if have.get(pkg) != want.get(pkg):
                        print(
                            f"  {pkg}: locked {have.get(pkg, '(absent)')}, resolves to {want.get(pkg, '(absent)')}",
                            file=sys.stderr,
                        )
        if not bad:
            print(
                f"lock check: {', '.join(f'locks/{n}' for n, _ in groups(torch_wheels))} match pyproject.toml"
            )
        return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail when the locks do not match pyproject.toml")
    mode.add_argument("--upgrade", action="store_true", help="move every pin to its newest allowed release")
    ap.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv executable")
    ap.add_argument(
        "--torch-wheels",
        default=os.environ.get("TORCH_WHEELS", "/opt/wheels"),
        help="folder or page holding torch-2.13.0+cpu (pip's and uv's --find-links)",
    )
    a = ap.parse_args()
    if a.check:
        return check(a.uv, a.torch_wheels)
    compile_into(LOCKS, a.uv, a.torch_wheels, a.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
