"""The FastAPI app: ``GET /`` serves the page, ``/static`` its assets, ``/ws`` one world per connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .config import PlayerConfig
from .guard import DoorGuard, allowed_hosts
from .protocol import ProtocolError, parse_message
from .sessions import PlayerSession, SaveStore

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("loci.serve")


def _error(message: str, seq: int | None = None) -> dict[str, Any]:
    return {"type": "error", "message": message, "seq": seq}


async def _send(ws: WebSocket, msg: dict[str, Any]) -> None:
    await ws.send_text(json.dumps(msg, separators=(",", ":")))


class _Connections:
    """Counts live connections, in all and per client address (only touched on the event loop)."""

    def __init__(self) -> None:
        self.active = 0
        self.by_client: dict[str, int] = {}

    def refusal(self, cfg: PlayerConfig, client: str) -> str | None:
        if self.active >= cfg.max_sessions:
            return f"the player is full ({cfg.max_sessions} sessions); try again later"
        if self.by_client.get(client, 0) >= cfg.max_sessions_per_client:
            return (
                f"this client already holds {cfg.max_sessions_per_client} sessions, the most one client may; "
                "close one first"
            )
        return None

    def add(self, client: str, delta: int) -> None:
        self.active += delta
        self.by_client[client] = self.by_client.get(client, 0) + delta
        if self.by_client[client] <= 0:
            del self.by_client[client]


async def _serve(ws: WebSocket, cfg: PlayerConfig, store: SaveStore, conns: _Connections) -> None:
    await ws.accept()
    client = ws.client.host if ws.client else "?"
    refused = conns.refusal(cfg, client)
    if refused:
        log.warning("refused a session for %s: %s", client, refused)
        await _send(ws, _error(refused))
        await ws.close(code=1013)
        return
    conns.add(client, 1)
    loop = asyncio.get_running_loop()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loci-session")
    player = PlayerSession(cfg, store)
    try:
        try:
            first = await loop.run_in_executor(worker, player.open)
        except Exception as err:
            log.exception("could not start a session")
            await _send(ws, _error(f"could not start the world: {type(err).__name__}: {err}"))
            await ws.close(code=1011)
            return
        await _send(ws, first)
        await _converse(ws, cfg, loop, worker, player)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-reply
    finally:
        conns.add(client, -1)
        worker.submit(player.close)
        worker.shutdown(wait=False)


async def _converse(
    ws: WebSocket, cfg: PlayerConfig, loop, worker: ThreadPoolExecutor, player: PlayerSession
) -> None:
    """Answer the client's messages in order, while a reader keeps taking them off the socket.

    Reading never waits for a step: a client that pipelines hundreds of steps still has its pongs
    read (so the server's keepalive does not time it out) and its messages queue here, at most
    ``cfg.max_pending``; past that each one is answered with an error instead of being buffered.
    """
    inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue(maxsize=cfg.max_pending)
    sending, gone = asyncio.Lock(), asyncio.Event()

    async def send(msg: dict[str, Any]) -> None:
        async with sending:
            await _send(ws, msg)

    async def read() -> None:
        try:
            while True:
                event = await ws.receive()
                if event["type"] == "websocket.disconnect":
                    break
                raw = event["text"] if event.get("text") is not None else event.get("bytes") or b""
                try:
                    inbox.put_nowait(raw)
                except asyncio.QueueFull:
                    await send(
                        _error(
                            f"{cfg.max_pending} messages are already waiting; wait for their replies "
                            "before sending more (this one was dropped)"
                        )
                    )
        finally:
            gone.set()  # a client that left gets none of its queued steps computed
            with contextlib.suppress(asyncio.QueueFull):
                inbox.put_nowait(None)

    reader = asyncio.create_task(read())
    try:
        while not gone.is_set() and (raw := await inbox.get()) is not None:
            try:
                replies = await loop.run_in_executor(worker, player.handle, parse_message(raw))
            except ProtocolError as err:
                replies = [_error(str(err), err.seq)]
            except Exception as err:
                log.exception("message failed")
                replies = [_error(f"internal error: {type(err).__name__}: {err}")]
            for reply in replies:
                await send(reply)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await reader


def create_app(config: PlayerConfig) -> FastAPI:
    """The player app for ``config`` (each WebSocket connection gets its own ``make_session()``)."""
    app = FastAPI(title="loci player", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        DoorGuard, hosts=allowed_hosts(config.host, config.allow_hosts), origins=config.allow_origins
    )
    store = SaveStore(config.saves_dir, config.max_saves, config.max_saves_mb)
    conns = _Connections()
    app.state.config = config
    app.state.connections = conns
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "sessions": conns.active}

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await _serve(ws, config, store, conns)

    return app


def player_url(config: PlayerConfig) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"http://{host}:{config.port}/"


def run_player(config: PlayerConfig) -> None:
    """Serve the player with uvicorn until Ctrl+C; prints the URL to open."""
    app = create_app(config)
    print(f"loci player: open {player_url(config)}  (Ctrl+C to stop)", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", ws_max_size=config.ws_max_bytes)
