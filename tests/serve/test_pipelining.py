"""A client that sends many steps without waiting: answered in order, bounded, never timed out."""

from __future__ import annotations

import json
import threading
import time

import uvicorn
from fastapi.testclient import TestClient
from websockets.sync.client import connect

from loci.serve import PlayerConfig, create_app

from .conftest import _free_port

WS = "ws://127.0.0.1:8765/ws"


def test_pipelined_steps_beyond_the_queue_are_refused_one_by_one(make_session, tmp_path):
    cfg = PlayerConfig(make_session=make_session, saves_dir=tmp_path, max_pending=8)
    with TestClient(create_app(cfg), base_url="http://127.0.0.1:8765") as c, c.websocket_connect(WS) as ws:
        ws.receive_json()
        for i in range(60):
            ws.send_json({"type": "step", "keys": "W", "seq": i})
        replies = [ws.receive_json() for _ in range(60)]
        frames = [r for r in replies if r["type"] == "frame"]
        dropped = [r for r in replies if r["type"] == "error"]
        assert len(frames) + len(dropped) == 60 and len(frames) >= 8
        assert all("already waiting" in r["message"] for r in dropped)
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(seqs)  # answered in the order sent
        ws.send_json({"type": "step", "keys": "S", "seq": 99})
        assert ws.receive_json()["seq"] == 99


def test_hundreds_of_pipelined_steps_survive_a_short_keepalive(make_session, tmp_path):
    """With pings every 0.2 s and 0.5 s to answer, 300 steps sent at once (several seconds of work)
    all come back: the server keeps reading the socket (and so the client's pongs) while it steps."""
    cfg = PlayerConfig(make_session=make_session, saves_dir=tmp_path)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(cfg),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws_ping_interval=0.2,
            ws_ping_timeout=0.5,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        with connect(f"ws://127.0.0.1:{port}/ws", max_size=2**24) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "frame"
            t0 = time.monotonic()
            for i in range(300):
                ws.send(json.dumps({"type": "step", "keys": "WQ"[i % 2], "seq": i}))
            got = [json.loads(ws.recv(timeout=60)) for _ in range(300)]
            took = time.monotonic() - t0
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [g["type"] for g in got] == ["frame"] * 300
    assert [g["seq"] for g in got] == list(range(300))
    print(f"300 pipelined steps in {took:.1f} s under a 0.5 s keepalive")
