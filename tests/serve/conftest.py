"""Player fixtures: a cheap session factory (the synthetic room's first view), apps and a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from loci.control import KeyStepConfig
from loci.serve import PlayerConfig, create_app
from loci.world import Session, World, WorldConfig


@pytest.fixture(scope="session")
def make_session() -> Callable[[], Session]:
    """A factory that starts a warp world from the synthetic room's first frame (~0.1 s a call).

    Steps are small (5 cm) so that holding W for a second in the browser stays inside the room
    (the warp backend has no collision; past the walls nothing of the memory is in view).
    """
    first = World(WorldConfig(backend="warp")).start_from_engine("synthetic", "room", 0).frame
    steps = KeyStepConfig(move_m=0.05, turn_deg=5.0, pitch_deg=3.0)
    world = World(WorldConfig(backend="warp", steps=steps))
    return lambda: world.start(first.rgb, first.depth, first.K)


@pytest.fixture
def player_config(make_session: Callable[[], Session], tmp_path: Path) -> PlayerConfig:
    return PlayerConfig(make_session=make_session, saves_dir=tmp_path / "saves", jpeg_quality=80)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(player_config: PlayerConfig) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port, in a background thread; yields its URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(player_config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
