"""Take the README's player screenshot: start `loci play` on the default world, walk, screenshot.

Usage: ``python scripts/screenshot_player.py [--out docs/images/player.png]`` (needs /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

from loci.serve.browser import CHROMIUM, CHROMIUM_ARGS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/images/player.png")
    ap.add_argument("--port", type=int, default=8799)
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-m", "loci.cli", "play", "--port", str(args.port)])
    try:
        url = f"http://127.0.0.1:{args.port}/"
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.goto(url)
            page.wait_for_function("window.loci && window.loci.framesReceived > 0", timeout=60_000)
            for key, ms in (("w", 1500), ("q", 700), ("w", 800), ("e", 1200)):
                page.keyboard.down(key)
                page.wait_for_timeout(ms)
                page.keyboard.up(key)
            page.wait_for_timeout(500)
            page.screenshot(path=args.out)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
