"""The README's screenshots, taken with headless Chromium from a fresh app on a loopback port.

    .venv/bin/python -m authdemo.harness.screenshots     # what `make screenshots` runs

A throw-away instance folder (its own SQLite database, seeded with the demo
users), alice logged in through the form, then the home and account pages
saved into docs/img/. Needs Debian's chromium (Playwright never downloads one).
"""

from __future__ import annotations

import tempfile
import urllib.request

from .processes import ROOT, clean_environment, run_flask
from .servers import HOST, free_port

PAGES = {"home.png": "/", "account.png": "/account"}


def main() -> int:
    """Serve the app, log in as alice, save the screenshots."""
    import subprocess
    import time

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="authdemo-screenshots-") as instance:
        env = {"AUTHDEMO_INSTANCE_PATH": instance, "AUTHDEMO_SECRET_KEY": "screenshots-" + "x" * 40}
        run_flask(env, "init-db")
        run_flask(env, "seed-demo")
        port = free_port()
        base = f"http://{HOST}:{port}"
        command = [str(ROOT / ".venv/bin/flask"), "--app", "app", "run", "--host", HOST, "--port", str(port)]
        server = subprocess.Popen(  # noqa: S603 - our own flask
            command, cwd=ROOT, env=clean_environment(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310 - loopback
                    break
                except OSError:
                    time.sleep(0.1)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
                page = browser.new_page(viewport={"width": 1100, "height": 800})
                page.goto(f"{base}/login")
                page.fill("input[name=username]", "alice")
                page.fill("input[name=password]", "alice-password")
                page.click("button[type=submit]")
                for name, path in PAGES.items():
                    page.goto(base + path)
                    page.screenshot(path=str(ROOT / "docs" / "img" / name))
                    print(f"docs/img/{name}")
                browser.close()
        finally:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
