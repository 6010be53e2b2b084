"""One connection's world (its ``Session``) and the directory of named saves.

Everything here is synchronous and runs on the connection's own worker thread, so a
connection's steps are serialized and the event loop never waits on torch or an engine.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from loci.io import sweep_temporaries
from loci.io.memory import release_free_memory
from loci.world import Session, load_session, save_session

from .config import PlayerConfig
from .encode import frame_message
from .protocol import ListSaves, Load, Message, ProtocolError, Reset, Save, Step, Text, check_name

SUFFIX = ".safetensors"
log = logging.getLogger("loci.serve")


class SaveStore:
    """Named sessions as ``<root>/<name>.safetensors``; names are checked, so no path leaves ``root``.

    At most ``max_saves`` files and ``max_mb`` MiB in all: a save that would pass either is refused
    with the reason (replacing an existing save counts its old size out). Temporary files left by a
    save that was killed are swept when the store opens.
    """

    def __init__(self, root: Path, max_saves: int = 100, max_mb: float = 2048.0):
        self.root = Path(root)
        self.max_saves, self.max_bytes = max_saves, int(max_mb * 2**20)
        swept = sweep_temporaries(self.root, SUFFIX)
        if swept:
            log.warning("removed %d temporary file(s) of interrupted saves in %s", len(swept), self.root)

    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}{SUFFIX}"

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = (p.name.removesuffix(SUFFIX) for p in self.root.glob(f"*{SUFFIX}") if p.is_file())
        return sorted(n for n in found if _valid_name(n))

    def _sizes(self) -> dict[str, int]:
        out = {}
        for n in self.names():
            try:
                out[n] = self.path(n).stat().st_size
            except OSError:
                continue
        return out

    def check_room(self, name: str) -> None:
        """Raise :class:`ProtocolError` when saving ``name`` would pass the count or size cap."""
        sizes = self._sizes()
        if name not in sizes and len(sizes) >= self.max_saves:
            raise ProtocolError(
                f"{len(sizes)} saved worlds already, the most this player keeps (--max-saves {self.max_saves}); "
                f"overwrite one or delete some from {self.root}"
            )
        others = sum(v for k, v in sizes.items() if k != name)
        expect = max(sizes.values(), default=0)  # a new save is about as large as the largest so far
        if others + expect > self.max_bytes:
            raise ProtocolError(
                f"saved worlds take {others / 2**20:.0f} MiB, near the cap of {self.max_bytes / 2**20:.0f} MiB "
                f"(--max-saves-mb); overwrite one or delete some from {self.root}"
            )

    def save(self, session: Session, name: str) -> None:
        path = self.path(name)
        self.check_room(name)
        self.root.mkdir(parents=True, exist_ok=True)
        save_session(session, str(path))  # atomic; the directory is fsynced after the rename

    def load(self, name: str) -> Session:
        path = self.path(name)
        if not path.is_file():
            raise ProtocolError(f"no saved world named {name!r}")
        try:
            return load_session(str(path))
        except (ValueError, OSError) as err:
            raise ProtocolError(f"could not load {name!r}: {err}") from None


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except ProtocolError:
        return False
    return True


class PlayerSession:
    """A connection's world: ``open()`` builds it, ``handle(msg)`` answers one message with replies."""

    def __init__(self, cfg: PlayerConfig, store: SaveStore):
        self.cfg = cfg
        self.store = store
        self.session: Session | None = None
        self.handled = 0  # messages answered; every cfg.trim_every of them the allocator is trimmed

    def _frame(self, t0: float, seq: int | None = None, t: float | None = None) -> dict[str, Any]:
        assert self.session is not None
        msg = frame_message(self.session, self.cfg.jpeg_quality, self.cfg.map_size, seq, t)
        msg["timings"]["server_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        return msg

    def open(self) -> dict[str, Any]:
        """Build a fresh session with the factory; returns its first frame."""
        t0 = time.perf_counter()
        self.session = self.cfg.make_session()
        return self._frame(t0)

    def close(self) -> None:
        self.session = None

    def handle(self, msg: Message) -> list[dict[str, Any]]:
        """Replies to ``msg`` (raises :class:`ProtocolError` for a request that cannot be served).

        Every ``cfg.trim_every`` messages, and after each save, load or reset, the memory the
        allocator freed goes back to the OS (:func:`loci.io.memory.release_free_memory`)."""
        self.handled += 1
        try:
            return self._handle(msg)
        finally:
            busy = isinstance(msg, Save | Load | Reset)
            if self.cfg.trim_every and (busy or self.handled % self.cfg.trim_every == 0):
                release_free_memory()

    def _handle(self, msg: Message) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        if self.session is None:
            raise ProtocolError("the world is not open yet")
        if isinstance(msg, Step | Text):
            action = msg.keys if isinstance(msg, Step) else msg.text
            try:
                self.session.step(action)
            except ValueError as err:
                raise ProtocolError(str(err), msg.seq) from None
            return [self._frame(t0, msg.seq, msg.t)]
        if isinstance(msg, Reset):
            return [{"type": "reset"}, self.open()]
        if isinstance(msg, ListSaves):
            return [{"type": "saves", "names": self.store.names()}]
        if isinstance(msg, Save):
            try:
                self.store.save(self.session, msg.name)
            except OSError as err:
                raise ProtocolError(f"could not save {msg.name!r}: {err}") from None
            return [
                {"type": "saved", "name": msg.name, "index": self.session.index},
                {"type": "saves", "names": self.store.names()},
            ]
        if isinstance(msg, Load):
            self.session = self.store.load(msg.name)
            return [{"type": "loaded", "name": msg.name, "index": self.session.index}, self._frame(t0)]
        raise ProtocolError(f"unhandled message {type(msg).__name__}")
