"""What the play benchmarks share: start ``loci play`` on a free loopback port, connect to it, read frames."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

from websockets.asyncio.client import ClientConnection, connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_player(world: str, port: int, threads: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """``loci play --world WORLD`` as a child process (its stderr piped)."""
    cmd = [sys.executable, "-m", "loci.cli", "play", "--world", world, "--port", str(port)]
    cmd += ["--threads", str(threads), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())


def stop_player(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def connect_player(port: int, timeout_s: float) -> ClientConnection:
    """Connect to ``/ws``, retrying while the player starts."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await connect(f"ws://127.0.0.1:{port}/ws", max_size=2**24)
        except OSError as err:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the player did not listen on port {port} within {timeout_s:.0f} s"
                ) from err
            await asyncio.sleep(0.5)


async def next_frame(ws: ClientConnection, timeout_s: float) -> dict:
    """The next ``frame`` message; an ``error`` message raises ``RuntimeError``."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if msg["type"] == "error":
            raise RuntimeError(f"the player answered an error: {msg['message']}")
        if msg["type"] == "frame":
            return msg
