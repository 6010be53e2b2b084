"""The dependency locks (locks/*.txt): complete, hashed, CPU-only torch, consistent with pyproject.toml.

Whether a fresh resolution still gives the same pins is `make lock-check` (needs the network); these
tests read the files alone.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {name: ROOT / "locks" / f"{name}.txt" for name in ("main", "dev")}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, [sha256, ...])}`` of a hashed requirements file (uv / pip-compile layout)."""
    entries, current = {}, None
    for line in path.read_text().splitlines():
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            current = canonicalize_name(m.group(1))
            entries[current] = (m.group(2), [])
        elif (h := re.search(r"--hash=sha256:([0-9a-f]{64})", line)) and current is not None:
            entries[current][1].append(h.group(1))
        elif line.strip() and not line.lstrip().startswith("#"):
            assert line.startswith(" "), f"{path.name}: unexpected line {line!r}"
    return entries


@pytest.fixture(scope="module", params=list(LOCKS))
def lock(request):
    return request.param, _entries(LOCKS[request.param])


def test_every_pin_is_exact_and_hashed(lock):
    name, entries = lock
    assert entries, f"locks/{name}.txt pins nothing"
    for pkg, (version, hashes) in entries.items():
        Version(version)  # a real version, no range
        assert hashes, f"locks/{name}.txt: {pkg}=={version} has no hash"


def test_torch_is_the_cpu_build_and_nothing_pulls_cuda(lock):
    name, entries = lock
    assert entries["torch"][0] == "2.13.0+cpu", f"locks/{name}.txt pins torch {entries['torch'][0]}"
    gpu = [p for p in entries if p.startswith(("nvidia-", "cuda-")) or p in {"triton", "pytorch-triton"}]
    assert not gpu, f"locks/{name}.txt would install CUDA packages: {gpu}"
    assert "torchvision" not in entries and "lpips" not in entries


def test_locks_satisfy_pyproject(lock):
    name, entries = lock
    wanted = list(PYPROJECT["project"]["dependencies"])
    if name == "dev":
        wanted += PYPROJECT["project"]["optional-dependencies"]["dev"]
    wanted += [r.strip() for r in (ROOT / "locks" / "build.in").read_text().splitlines()]
    wanted += PYPROJECT["build-system"]["requires"]
    for spec in wanted:
        if not spec or spec.startswith("#"):
            continue
        req = Requirement(spec)
        pkg = canonicalize_name(req.name)
        assert pkg in entries, f"locks/{name}.txt lacks {req.name} (pyproject.toml wants {spec})"
        assert req.specifier.contains(entries[pkg][0], prereleases=True), (
            f"locks/{name}.txt pins {pkg}=={entries[pkg][0]}, outside {spec}"
        )


def test_dev_lock_extends_main_with_the_same_pins():
    main, dev = _entries(LOCKS["main"]), _entries(LOCKS["dev"])
    differ = {
        p: (v, dev.get(p, ("(absent)",))[0]) for p, (v, _) in main.items() if dev.get(p, (None,))[0] != v
    }
    assert not differ, f"locks/dev.txt disagrees with locks/main.txt on {differ}"


def test_lock_script_reads_pins_like_these_tests():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for path in LOCKS.values():
        assert mod.pins(path) == {p: v for p, (v, _) in _entries(path).items()}
