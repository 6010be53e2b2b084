"""Atomic writes: old or new file, never half; the rename reaches the disk; leftovers swept."""

from __future__ import annotations

import os
import stat
import time

import pytest

from loci.io import atomic_path, atomic_write_bytes, sweep_temporaries


def test_data_then_directory_are_fsynced_around_the_rename(tmp_path, monkeypatch):
    """The file's bytes are flushed before the rename and its directory after it (else a power cut
    can lose the rename): recorded through os.fsync and os.replace."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(a, b):
        events.append("replace")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_bytes(tmp_path / "a.bin", b"new")
    assert events == ["fsync file", "replace", "fsync dir"]
    assert (tmp_path / "a.bin").read_bytes() == b"new"


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_sweep_removes_only_old_leftovers_of_the_suffix(tmp_path):
    old = tmp_path / ".w.safetensors.x1.safetensors"
    young = tmp_path / ".w.safetensors.x2.safetensors"
    other = tmp_path / ".notes.txt"
    keep = tmp_path / "w.safetensors"
    for p in (old, young, other, keep):
        p.write_bytes(b"")
    past = time.time() - 3600
    for p in (old, other, keep):
        os.utime(p, (past, past))
    assert sweep_temporaries(tmp_path, ".safetensors") == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([young.name, other.name, keep.name])
    assert sweep_temporaries(tmp_path / "missing", ".safetensors") == []


def test_freed_memory_goes_back_to_the_os():
    """After a burst of freed small allocations, glibc's malloc_trim gives pages back: the
    resident size drops (read from /proc; skipped where there is no glibc or no /proc)."""
    import ctypes.util

    from loci.io.memory import release_free_memory

    status = "/proc/self/status"
    if ctypes.util.find_library("c") is None or not os.path.exists(status):
        pytest.skip("needs glibc and /proc")

    def rss_kb() -> int:
        for line in open(status).read().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    release_free_memory()
    chunks = [bytearray(2000) for _ in range(60_000)]  # ~120 MB of small blocks on the heap
    del chunks[: len(chunks) - 1]  # all freed but the last: the heap cannot shrink from its top
    before = rss_kb()
    assert release_free_memory() is True
    after = rss_kb()
    print(f"RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB")
    assert after < before - 50_000
