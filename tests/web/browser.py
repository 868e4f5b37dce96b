"""Real-browser tests' parts: Debian's chromium driven through its chromedriver (Selenium; no browser
download), the app served over HTTP from a thread, axe-core (npm) injected into each page, screenshots.

Without Chromium the browser tests are skipped with one line, unless CI_REQUIRE_BROWSER=1 (set by .ci/run):
then a missing browser fails the run."""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
PHONE = (412, 915)  # a common phone's CSS pixels
DESKTOP = (1280, 900)


def require_browser() -> None:
    """Call at the top of a browser test module."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)] + ([] if AXE.is_file() else [str(AXE)])
    if not missing:
        return
    message = (f"browser tests need Debian's chromium and chromium-driver and npm's axe-core; missing: "
               f"{', '.join(missing)} (apt-get install chromium chromium-driver; npm ci)")  # fmt: skip
    if os.environ.get("CI_REQUIRE_BROWSER") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def chromium(*extra: str):
    """A headless Chromium through Debian's chromedriver; `extra`: more command-line switches."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--lang=en-GB", *extra):  # fmt: skip
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    browser.set_script_timeout(30)
    return browser


@pytest.fixture(scope="module")
def driver():
    browser = chromium()
    yield browser
    browser.quit()


def camera_film(text: str, path: Path, size: tuple[int, int] = (640, 480), module_px: int = 8) -> Path:
    """A Y4M video (Chromium's fake camera plays it in a loop) of a DataMatrix holding `text`, black on white,
    centred: what a phone sees held over a pack."""
    from pystrich.datamatrix import DataMatrixEncoder

    rows = [[line[i : i + 2] == "XX" for i in range(0, len(line), 2)] for line in DataMatrixEncoder(text).get_ascii().splitlines()]  # fmt: skip
    width, height = size
    top, left = (height - len(rows) * module_px) // 2, (width - len(rows[0]) * module_px) // 2
    luma = bytearray([235]) * (width * height)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                for y in range(top + r * module_px, top + (r + 1) * module_px):
                    start = y * width + left + c * module_px
                    luma[start : start + module_px] = bytes([16]) * module_px
    chroma = bytes([128]) * (width // 2 * (height // 2) * 2)
    frame = b"FRAME\n" + bytes(luma) + chroma
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * 5)
    return path


@contextmanager
def serving(app) -> Iterator[str]:
    """The app on a free port of 127.0.0.1, answered by a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def axe_violations(driver) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text())
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n.get("target") for n in v.get("nodes", [])],
        }
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def check_page(driver, name: str) -> None:
    """No serious or critical accessibility violation; a screenshot saved as build/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
        "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})  # the whole page  # fmt: skip
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    violations = axe_violations(driver)
    assert violations == [], f"{name}: {violations}"
    wide = driver.execute_script(
        "const w = document.documentElement.clientWidth;"
        "return [document.documentElement.scrollWidth, w, [...document.querySelectorAll('body *')]"
        ".filter(e => !e.closest('.scroll') && (e.getBoundingClientRect().right > w + 1 || e.scrollWidth > e.clientWidth + 1))"
        ".map(e => e.tagName + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().width)).slice(0, 5)];"
    )
    assert wide[0] <= wide[1], f"{name}: wider than the screen: {wide}"  # a phone scrolls down, never sideways
