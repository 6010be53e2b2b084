"""Settings of the browser player."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loci.world import Session


@dataclass(frozen=True)
class PlayerConfig:
    """make_session: builds the world each connection plays (called in a worker thread).

    host/port: where uvicorn listens (loopback unless told otherwise); saves_dir: where ``save``
    writes ``<name>.safetensors``; jpeg_quality: of the RGB and depth views; map_size: top-down map
    side in pixels; max_sessions: concurrent connections served; ws_max_bytes: the WebSocket
    frame limit given to uvicorn (larger messages close the connection; the protocol's own limit
    of 4 KB answers with an error).
    """

    make_session: Callable[[], Session]
    host: str = "127.0.0.1"
    port: int = 8765
    saves_dir: Path = Path("outputs/sessions")
    jpeg_quality: int = 90
    map_size: int = 240
    max_sessions: int = 8
    ws_max_bytes: int = 65536

    def __post_init__(self) -> None:
        if not callable(self.make_session):
            raise ValueError("make_session must be a callable returning a loci.world.Session")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if not 32 <= self.map_size <= 2048:
            raise ValueError(f"map_size must be in 32..2048, got {self.map_size}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {self.max_sessions}")
        object.__setattr__(self, "saves_dir", Path(self.saves_dir))
