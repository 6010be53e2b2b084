"""The FastAPI app: ``GET /`` serves the page, ``/static`` its assets, ``/ws`` one world per connection."""

from __future__ import annotations

import asyncio
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
from .protocol import ProtocolError, parse_message
from .sessions import PlayerSession, SaveStore

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("loci.serve")


def _error(message: str, seq: int | None = None) -> dict[str, Any]:
    return {"type": "error", "message": message, "seq": seq}


async def _send(ws: WebSocket, msg: dict[str, Any]) -> None:
    await ws.send_text(json.dumps(msg, separators=(",", ":")))


class _Connections:
    """Counts live connections (only touched on the event loop)."""

    def __init__(self) -> None:
        self.active = 0


async def _serve(ws: WebSocket, cfg: PlayerConfig, store: SaveStore, conns: _Connections) -> None:
    await ws.accept()
    if conns.active >= cfg.max_sessions:
        await _send(ws, _error(f"the player is full ({cfg.max_sessions} sessions); try again later"))
        await ws.close(code=1013)
        return
    conns.active += 1
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
        while True:
            event = await ws.receive()
            if event["type"] == "websocket.disconnect":
                break
            raw = event["text"] if event.get("text") is not None else event.get("bytes") or b""
            try:
                replies = await loop.run_in_executor(worker, player.handle, parse_message(raw))
            except ProtocolError as err:
                replies = [_error(str(err), err.seq)]
            except Exception as err:
                log.exception("message failed")
                replies = [_error(f"internal error: {type(err).__name__}: {err}")]
            for reply in replies:
                await _send(ws, reply)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-reply
    finally:
        conns.active -= 1
        worker.submit(player.close)
        worker.shutdown(wait=False)


def create_app(config: PlayerConfig) -> FastAPI:
    """The player app for ``config`` (each WebSocket connection gets its own ``make_session()``)."""
    app = FastAPI(title="loci player", docs_url=None, redoc_url=None, openapi_url=None)
    store = SaveStore(config.saves_dir)
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
