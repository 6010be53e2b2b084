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

    allow_hosts: Host names served besides the loopback names and ``host`` (DNS-rebinding guard);
    allow_origins: page origins (``http://name:port``) whose WebSockets are accepted besides the
    player's own; max_sessions_per_client: connections one client address may hold at once.
    max_saves / max_saves_mb: how many saved worlds ``saves_dir`` may hold, and their total size.
    max_pending: messages of one connection queued while it is busy (more are answered with an error).
    trim_every: give the allocator's freed memory back to the OS every this many messages (0: never).
    """

    make_session: Callable[[], Session]
    host: str = "127.0.0.1"
    port: int = 8765
    saves_dir: Path = Path("outputs/sessions")
    jpeg_quality: int = 90
    map_size: int = 240
    max_sessions: int = 8
    ws_max_bytes: int = 65536
    allow_hosts: tuple[str, ...] = ()
    allow_origins: tuple[str, ...] = ()
    max_sessions_per_client: int = 4
    max_saves: int = 100
    max_pending: int = 512
    trim_every: int = 250
    max_saves_mb: float = 2048.0

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
        if self.trim_every < 0:
            raise ValueError(f"trim_every must be >= 0, got {self.trim_every}")
        if self.max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {self.max_pending}")
        if self.max_sessions_per_client < 1:
            raise ValueError(f"max_sessions_per_client must be >= 1, got {self.max_sessions_per_client}")
        if self.max_saves < 1 or not self.max_saves_mb > 0:
            raise ValueError(
                f"max_saves must be >= 1 and max_saves_mb > 0, got {self.max_saves}, {self.max_saves_mb}"
            )
        for origin in self.allow_origins:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") != 2:
                raise ValueError(f"allow_origins entries look like http://host:port, got {origin!r}")
        object.__setattr__(self, "allow_hosts", tuple(self.allow_hosts))
        object.__setattr__(self, "allow_origins", tuple(self.allow_origins))
        object.__setattr__(self, "saves_dir", Path(self.saves_dir))
