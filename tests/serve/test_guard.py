"""The player's door: Host and Origin checks with raw HTTP/WebSocket handshakes and in real Chromium."""

from __future__ import annotations

import base64
import http.server
import os
import socket
import threading
from urllib.parse import urlparse

import pytest

from loci.serve.browser import CHROMIUM, CHROMIUM_ARGS
from loci.serve.guard import DoorGuard, allowed_hosts, host_name


def _raw(url: str, request_target: str, headers: dict[str, str], websocket: bool) -> tuple[int, bytes]:
    """Send one raw HTTP/1.1 request (a WebSocket upgrade when ``websocket``); ``(status, body head)``."""
    u = urlparse(url)
    lines = [f"GET {request_target} HTTP/1.1"]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
            **headers,
        }
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        try:
            s.settimeout(0.5)
            data += s.recv(4096)
        except (TimeoutError, OSError):
            pass
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[-1][:300]


def test_raw_handshakes_from_other_origins_and_hosts_are_refused(live_server):
    port = urlparse(live_server).port
    own = f"127.0.0.1:{port}"
    # the player's own page, a program without Origin, and the same page opened as localhost: served
    assert _raw(live_server, "/ws", {"Host": own, "Origin": f"http://{own}"}, True)[0] == 101
    assert _raw(live_server, "/ws", {"Host": own}, True)[0] == 101
    assert (
        _raw(live_server, "/ws", {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}, True)[0]
        == 101
    )
    assert _raw(live_server, "/", {"Host": own}, False)[0] == 200
    # cross-site WebSocket hijacking: another page's origin, a sandboxed page, a look-alike
    for origin in (
        "http://evil.example",
        "null",
        f"http://127.0.0.1:{port + 1}",
        f"https://{own}.evil.example",
    ):
        assert _raw(live_server, "/ws", {"Host": own, "Origin": origin}, True)[0] == 403, origin
    # DNS rebinding: the attacker's name, even as the page's own origin
    for path, ws in (("/", False), ("/healthz", False), ("/static/app.js", False), ("/ws", True)):
        headers = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        status, body = _raw(live_server, path, headers, ws)
        assert status == (403 if ws else 400), (path, status)
        if not ws:
            assert b"--allow-host" in body
    assert _raw(live_server, "/", {}, False)[0] in (400, 404)  # no Host at all (HTTP/1.1 requires one)


def test_refusals_are_logged_with_their_reason(live_server, caplog):
    port = urlparse(live_server).port
    with caplog.at_level("WARNING", logger="loci.serve"):
        _raw(live_server, "/ws", {"Host": f"127.0.0.1:{port}", "Origin": "http://evil.example"}, True)
        _raw(live_server, "/", {"Host": "evil.example"}, False)
    text = caplog.text
    assert "Origin 'http://evil.example' refused" in text and "--allow-origin" in text
    assert "Host 'evil.example' is not one of this player's names" in text


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("[::1]:8765", "::1"),
        ("::1", "::1"),
        ("LocalHost", "localhost"),
        ("a.b", "a.b"),
    ],
)
def test_host_names(header, name):
    assert host_name(header) == name


def test_allowed_names_and_origins_by_example():
    assert allowed_hosts("0.0.0.0") == {"127.0.0.1", "localhost", "::1"}
    assert "192.168.1.7" in allowed_hosts("192.168.1.7") and "pc.lan" in allowed_hosts("::", ["pc.lan"])
    guard = DoorGuard(None, allowed_hosts("127.0.0.1", ["pc.lan"]), ["http://pc.lan:9000/"])

    def ws(host, origin):
        headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
        return guard.refusal({"type": "websocket", "headers": headers})

    assert ws("pc.lan:8765", "http://pc.lan:8765") is None
    assert ws("127.0.0.1:8765", "http://pc.lan:9000") is None  # an origin allowed by configuration
    assert ws("127.0.0.1:8765", "http://pc.lan:9001") is not None
    assert ws("pc.lan.evil.example:8765", "http://pc.lan.evil.example:8765") is not None


def _serve_page(html: str):
    """Serve one HTML page from another origin (a second port) in a thread; returns (url, stop)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server.shutdown


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_a_page_of_another_origin_cannot_connect_in_chromium_and_the_players_own_can(live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    ws_url = live_server.replace("http://", "ws://") + "ws"
    probe = f"""<!doctype html><script>
      window.result = "pending";
      const ws = new WebSocket("{ws_url}");
      ws.onmessage = (e) => {{ window.result = "message:" + JSON.parse(e.data).type; }};
      ws.onerror = () => {{ if (window.result === "pending") window.result = "error"; }};
      ws.onclose = (e) => {{ if (window.result === "pending") window.result = "closed:" + e.code; }};
    </script>"""
    evil_url, stop = _serve_page(probe)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()
                page.goto(evil_url)
                page.wait_for_function("window.result !== 'pending'", timeout=15_000)
                evil = page.evaluate("window.result")
                page.goto(live_server)  # the player's own page connects and gets its first frame
                page.wait_for_function("window.loci && window.loci.framesReceived >= 1", timeout=20_000)
                own = page.evaluate("window.loci.framesReceived")
            finally:
                browser.close()
    finally:
        stop()
    assert evil in ("error", "closed:1006"), evil
    assert own >= 1
