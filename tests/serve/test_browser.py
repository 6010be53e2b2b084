"""The page in a real headless Chromium (Debian's ``chromium`` package) against the real server."""

from __future__ import annotations

import pytest

from loci.serve.browser import CHROMIUM, CHROMIUM_ARGS

ARGS = list(CHROMIUM_ARGS)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
)


def _pose(page) -> list[float]:
    return [float(v) for v in page.get_attribute("#r-pose", "data-pose").split(",")]


def test_holding_w_walks_and_the_page_shows_it(live_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(live_server)
            page.wait_for_function("window.loci && window.loci.framesReceived >= 1", timeout=20_000)
            before, start_pose = page.evaluate("window.loci.framesReceived"), _pose(page)

            page.locator("main").click(position={"x": 5, "y": 5})  # focus the page, not a text box
            page.keyboard.down("w")
            page.wait_for_timeout(1000)
            page.keyboard.up("w")
            page.wait_for_timeout(300)  # the last frame in flight

            stats = page.evaluate(
                "({frames: window.loci.framesReceived, fps: window.loci.fps,"
                " latency: window.loci.latencyMs, step: window.loci.stepMs, errors: window.loci.errors})"
            )
            moved = _pose(page)
            shot = tmp_path / "player.png"
            page.screenshot(path=str(shot))

            # keys typed into the text box do not move the camera; the text command does
            frames = page.evaluate("window.loci.framesReceived")
            page.fill("#text", "wwww")
            page.fill("#text", "turn left 30 degrees")
            page.press("#text", "Enter")
            page.wait_for_function(f"window.loci.framesReceived === {frames + 1}", timeout=10_000)
            yaw_after_text = _pose(page)[3]
            page.fill("#save-name", "walked")
            page.click("#save")
            page.wait_for_function("document.querySelector('#load-name').value === 'walked'", timeout=10_000)
        finally:
            browser.close()
    new_frames = stats["frames"] - before
    print(
        f"browser: {new_frames} frames in 1 s of W, latency {stats['latency']:.0f} ms, step {stats['step']} ms"
    )
    assert not errors, errors
    assert stats["errors"] == 0
    assert new_frames >= 3, stats
    assert moved[:3] != start_pose[:3], (start_pose, moved)
    assert yaw_after_text == pytest.approx(moved[3] + 30, abs=0.5)
    assert stats["latency"] is not None and stats["latency"] > 0
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
