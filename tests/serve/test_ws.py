"""The player over FastAPI's TestClient: frames, errors that keep the connection, isolation, saves."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from loci.serve import PlayerConfig, create_app, player_url

BASE = "http://127.0.0.1:8765"  # the Host the player serves (TestClient's default 'testserver' is refused)
WS = "ws://127.0.0.1:8765/ws"  # TestClient.websocket_connect would otherwise send Host: testserver


def _decode(b64: str) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable image"
    return img


def _pose(frame: dict) -> np.ndarray:
    return np.asarray(frame["pose"], np.float64)


@pytest.fixture
def client(player_config: PlayerConfig):
    with TestClient(create_app(player_config), base_url=BASE) as c:
        yield c


def test_page_and_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "loci" in page.text and "/static/player.js" in page.text
    for asset in ("player.js", "player.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/healthz").json() == {"ok": True, "sessions": 0}


def test_step_returns_a_frame_with_images_and_a_moved_pose(client):
    with client.websocket_connect(WS) as ws:
        first = ws.receive_json()
        assert first["type"] == "frame" and first["index"] == 0 and first["seq"] is None
        ws.send_json({"type": "step", "keys": "W", "t": 1234.5, "seq": 1})
        frame = ws.receive_json()
    assert frame["type"] == "frame" and frame["seq"] == 1 and frame["t"] == 1234.5
    assert frame["index"] == 1 and frame["action"] == "W"
    rgb, depth, top = _decode(frame["rgb"]), _decode(frame["depth"]), _decode(frame["map"])
    assert rgb.shape == (frame["height"], frame["width"], 3) and depth.shape == rgb.shape
    assert top.shape[:2] == (240, 240)
    assert not np.allclose(_pose(frame), _pose(first))
    assert 0.0 <= frame["coverage"] <= 1.0 and frame["memory_points"] > 0
    assert frame["timings"]["total_ms"] > 0 and frame["timings"]["server_ms"] > 0


BAD = [
    "{not json",
    "[1, 2, 3]",
    json.dumps({"type": "teleport"}),
    json.dumps({"type": "step", "keys": "X", "seq": 5}),
    json.dumps({"type": "text", "text": "a" * 501}),
    json.dumps({"type": "text", "text": "dance wildly"}),
    json.dumps({"type": "save", "name": "../etc"}),
    json.dumps({"type": "load", "name": "../etc"}),
    json.dumps({"type": "load", "name": "never_saved"}),
    json.dumps({"type": "list", "pad": "x" * 5000}),
]


def test_bad_messages_get_errors_and_the_connection_keeps_working(client):
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        for raw in BAD:
            ws.send_text(raw)
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["message"], raw
        ws.send_bytes(b"\xff\xfe")
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "step", "keys": "WQ", "seq": 2})
        frame = ws.receive_json()
        assert frame["type"] == "frame" and frame["seq"] == 2 and frame["index"] == 1


def test_unknown_key_error_names_the_key_and_echoes_seq(client):
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        ws.send_json({"type": "step", "keys": "X", "seq": 5})
        reply = ws.receive_json()
    assert reply == {"type": "error", "message": reply["message"], "seq": 5}
    assert "'X'" in reply["message"]


def test_two_connections_have_isolated_sessions(client):
    with client.websocket_connect(WS) as a, client.websocket_connect(WS) as b:
        a0, b0 = a.receive_json(), b.receive_json()
        for i in range(3):
            a.send_json({"type": "step", "keys": "W", "seq": i})
            a1 = a.receive_json()
        b.send_json({"type": "step", "keys": ".", "seq": 0})
        b1 = b.receive_json()
    assert a1["index"] == 3 and b1["index"] == 1
    assert not np.allclose(_pose(a1), _pose(a0))
    np.testing.assert_allclose(_pose(b1), _pose(b0), atol=1e-6)


def test_text_command_turns_the_camera(client):
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        ws.send_json({"type": "text", "text": "turn left 30 degrees", "seq": 1})
        frame = ws.receive_json()
    fwd = _pose(frame)[:3, 2]
    assert frame["action"] == "turn left 30 degrees"
    assert np.degrees(np.arctan2(-fwd[0], fwd[2])) == pytest.approx(30, abs=0.5)


def test_save_list_load_round_trip_and_reset(client, player_config):
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        for keys in ("W", "WQ", "D"):
            ws.send_json({"type": "step", "keys": keys})
            saved_frame = ws.receive_json()
        ws.send_json({"type": "save", "name": "my_world"})
        assert ws.receive_json() == {"type": "saved", "name": "my_world", "index": 3}
        assert ws.receive_json() == {"type": "saves", "names": ["my_world"]}
        assert (player_config.saves_dir / "my_world.safetensors").is_file()

        ws.send_json({"type": "reset"})
        assert ws.receive_json()["type"] == "reset"
        fresh = ws.receive_json()
        assert fresh["index"] == 0 and not np.allclose(_pose(fresh), _pose(saved_frame))

        ws.send_json({"type": "list"})
        assert ws.receive_json() == {"type": "saves", "names": ["my_world"]}
        ws.send_json({"type": "load", "name": "my_world"})
        assert ws.receive_json() == {"type": "loaded", "name": "my_world", "index": 3}
        loaded = ws.receive_json()
        np.testing.assert_allclose(_pose(loaded), _pose(saved_frame), atol=1e-5)
        assert loaded["index"] == 3 and loaded["memory_points"] == saved_frame["memory_points"]
        ws.send_json({"type": "step", "keys": "S", "seq": 9})
        assert ws.receive_json()["index"] == 4


def test_corrupt_save_file_is_an_error_not_a_crash(client, player_config):
    player_config.saves_dir.mkdir(parents=True)
    (player_config.saves_dir / "broken.safetensors").write_bytes(b"not a session")
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        ws.send_json({"type": "load", "name": "broken"})
        reply = ws.receive_json()
        assert reply["type"] == "error" and "broken" in reply["message"]
        ws.send_json({"type": "step", "keys": "W"})
        assert ws.receive_json()["type"] == "frame"


def test_a_failing_factory_reports_an_error(tmp_path):
    def boom():
        raise RuntimeError("no engine here")

    cfg = PlayerConfig(make_session=boom, saves_dir=tmp_path)
    with TestClient(create_app(cfg), base_url=BASE) as c, c.websocket_connect(WS) as ws:
        reply = ws.receive_json()
    assert reply["type"] == "error" and "no engine here" in reply["message"]


def test_config_is_validated(make_session):
    with pytest.raises(ValueError, match="jpeg_quality"):
        PlayerConfig(make_session=make_session, jpeg_quality=0)
    assert PlayerConfig(make_session=make_session).host == "127.0.0.1"


def test_connections_beyond_max_sessions_are_told_so(make_session, tmp_path):
    cfg = PlayerConfig(make_session=make_session, saves_dir=tmp_path, max_sessions=1)
    with TestClient(create_app(cfg), base_url=BASE) as c, c.websocket_connect(WS) as first:
        assert first.receive_json()["type"] == "frame"
        with c.websocket_connect(WS) as second:
            reply = second.receive_json()
        assert reply["type"] == "error" and "full" in reply["message"]
        first.send_json({"type": "step", "keys": "W"})
        assert first.receive_json()["index"] == 1


def test_one_client_cannot_take_every_session(make_session, tmp_path):
    cfg = PlayerConfig(
        make_session=make_session, saves_dir=tmp_path, max_sessions=8, max_sessions_per_client=2
    )
    with TestClient(create_app(cfg), base_url=BASE) as c, c.websocket_connect(WS) as a:
        assert a.receive_json()["type"] == "frame"
        with c.websocket_connect(WS) as b:
            assert b.receive_json()["type"] == "frame"
            with c.websocket_connect(WS) as third:
                reply = third.receive_json()
            assert reply["type"] == "error" and "already holds 2 sessions" in reply["message"]
        with c.websocket_connect(WS) as again:  # a closed one frees its slot
            assert again.receive_json()["type"] == "frame"


def test_saves_are_capped_by_count_and_size_and_stale_temporaries_swept(make_session, tmp_path):
    import os
    import time

    saves = tmp_path / "saves"
    saves.mkdir()
    stale = saves / ".old.safetensors.abc123.safetensors"  # what a killed save leaves
    stale.write_bytes(b"")
    os.utime(stale, (time.time() - 3600,) * 2)
    fresh = saves / ".live.safetensors.def456.safetensors"  # a save in progress elsewhere: kept
    fresh.write_bytes(b"")
    cfg = PlayerConfig(make_session=make_session, saves_dir=saves, max_saves=2)
    with TestClient(create_app(cfg), base_url=BASE) as c, c.websocket_connect(WS) as ws:
        assert not stale.exists() and fresh.exists()
        ws.receive_json()
        for name in ("a", "b"):
            ws.send_json({"type": "save", "name": name})
            assert ws.receive_json()["type"] == "saved"
            assert ws.receive_json()["type"] == "saves"
        ws.send_json({"type": "save", "name": "c"})
        reply = ws.receive_json()
        assert reply["type"] == "error" and "2 saved worlds already" in reply["message"]
        ws.send_json({"type": "save", "name": "a"})  # overwriting one is fine
        assert ws.receive_json()["type"] == "saved"
        assert ws.receive_json()["names"] == ["a", "b"]
    size_mb = (saves / "a.safetensors").stat().st_size / 2**20
    cfg = PlayerConfig(make_session=make_session, saves_dir=saves, max_saves_mb=size_mb * 2.5)
    with TestClient(create_app(cfg), base_url=BASE) as c, c.websocket_connect(WS) as ws:
        ws.receive_json()
        ws.send_json({"type": "save", "name": "c"})
        reply = ws.receive_json()
        assert reply["type"] == "error" and "near the cap" in reply["message"]
        ws.send_json({"type": "step", "keys": "W"})
        assert ws.receive_json()["type"] == "frame"
    assert sorted(p.name for p in saves.iterdir() if not p.name.startswith(".")) == [
        "a.safetensors",
        "b.safetensors",
    ]


def test_player_url(make_session):
    assert player_url(PlayerConfig(make_session=make_session)) == "http://127.0.0.1:8765/"
    assert player_url(PlayerConfig(make_session=make_session, host="::1", port=9)) == "http://[::1]:9/"
