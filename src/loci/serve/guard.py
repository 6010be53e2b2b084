"""The player's door: which Host names and which page origins it serves (an ASGI middleware).

Two attacks on a server on 127.0.0.1 come through the user's own browser:

- **DNS rebinding**: a page on ``evil.example`` re-points its name at 127.0.0.1 and reads the
  player as its own origin. Every HTTP request and WebSocket handshake must name an allowed
  ``Host``: the loopback names, the address the player is bound to (when it is not a wildcard), and
  those given with ``--allow-host``. Others get ``400`` (HTTP) or ``403`` (WebSocket).
- **Cross-site WebSocket hijacking**: any page may open ``ws://127.0.0.1:8765/ws``; browsers send
  its ``Origin`` and leave the refusing to the server. A WebSocket is accepted only from the
  player's own origin (``http(s)://<the Host it asked>``) or one given with ``--allow-origin``;
  ``Origin: null`` (sandboxed frames, ``file:`` pages) is refused. A handshake without ``Origin``
  comes from a program, not a web page (browsers always send one), and is served.

Each refusal is logged with its reason and the option that would allow it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("loci.serve")

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("", "0.0.0.0", "::")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``"[::1]:8765"`` -> ``"::1"``), lower case."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names served: loopback, the bound address unless a wildcard, and ``extra``."""
    names = {*LOOPBACK_NAMES, *(h.strip().strip("[]").lower() for h in extra)}
    if bind.strip().lower() not in WILDCARDS:
        names.add(bind.strip().strip("[]").lower())
    return frozenset(names)


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without a trailing slash."""
    return origin.strip().rstrip("/").lower()


class DoorGuard:
    """ASGI middleware: refuse requests whose Host, or WebSockets whose Origin, is not allowed."""

    def __init__(self, app, hosts: frozenset[str], origins: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = frozenset(normalize_origin(o) for o in origins)

    def refusal(self, scope: dict[str, Any]) -> str | None:
        """Why this request is refused, or None to serve it."""
        host = _header(scope, b"host")
        if host is None or host_name(host) not in self.hosts:
            return (
                f"Host {host!r} is not one of this player's names ({', '.join(sorted(self.hosts))}); "
                "start it with --allow-host NAME to serve that name"
            )
        if scope["type"] != "websocket":
            return None
        origin = _header(scope, b"origin")
        if origin is None:
            return None  # not a browser page
        o = normalize_origin(origin)
        own = {f"http://{host.strip().lower()}", f"https://{host.strip().lower()}"}
        if o in own or o in self.origins:
            return None
        return (
            f"WebSocket from Origin {origin!r} refused: only the player's own page ({sorted(own)[0]}) "
            "may connect; start it with --allow-origin ORIGIN to allow another"
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = self.refusal(scope)
        if reason is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        log.warning("refused %s %s from %s: %s", scope["type"], scope.get("path", ""), client[0], reason)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        body = (reason + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
