"""The static preview opens in headless Chromium: every panel renders, no console error, all ten
counties shown; the screenshot is kept in var/preview.png (docs/img/preview.png with
PINGAN_UPDATE_SCREENSHOT=1).

Chromium is Debian's package (installed here with apt-get when missing, together with a CJK font so
the Chinese labels render); without apt the test is skipped with the reason.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_dashboards_check as data  # noqa: E402 - the loaded-store helpers of the check test

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "img" / "preview.png"
COUNTIES = ("楚雄市", "禄丰市", "双柏县", "牟定县", "南华县", "姚安县", "大姚县", "永仁县", "元谋县", "武定县")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
         "--virtual-time-budget=10000"]

pytestmark = pytest.mark.slow


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _cjk_font_missing() -> bool:
    try:
        out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return True
    return not out.strip()


def _apt_install(packages: list[str]) -> str | None:
    """Install Debian packages; returns why not when it cannot."""
    if not shutil.which("apt-get"):
        return "apt-get is not available"
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        return f"apt-get install {' '.join(packages)} failed: {(result.stderr or result.stdout).strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _find_chromium()
    wanted = ([] if path else ["chromium"]) + (["fonts-wqy-microhei"] if _cjk_font_missing() else [])
    if wanted:
        problem = _apt_install(wanted)
        if problem and not path:
            pytest.skip(f"Chromium is not installed and cannot be installed: {problem}")
        path = _find_chromium()
    if not path:
        pytest.skip("Chromium is not installed and apt-get did not provide it")
    return path


@pytest.fixture(scope="module")
def preview_file():
    from pingan.dashboards.preview import build_preview

    sink, _counts = data.open_store()
    out = Path(tempfile.mkdtemp(prefix="pingan-preview-")) / "index.html"
    try:
        data._STORE["loop"].run_until_complete(build_preview(sink, out))
    finally:
        data.close_store()
    yield out
    shutil.rmtree(out.parent, ignore_errors=True)


def _run(chromium: str, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="pingan-chromium-")
    try:
        return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_preview_renders_every_panel(chromium, preview_file):
    from pingan.dashboards.registry import iter_panels

    url = preview_file.as_uri()
    result = _run(chromium, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    dom = result.stdout
    assert 'data-preview="done"' in dom, (result.stderr or "")[-2000:]
    report = json.loads(re.search(r'<pre id="preview-report"[^>]*>(.*?)</pre>', dom, re.S).group(1))
    expected = len(list(iter_panels()))
    assert report["panels"] == expected
    assert report["rendered"] == expected, report["failed"]
    assert not report["failed"] and not report["errors"], report
    # ClickHouse panels drew data (the Prometheus ones show their PromQL: no Prometheus here)
    states = report["states"]
    assert sum(1 for s in states.values() if s == "ok") >= 20, states
    assert all(s == "info" for name, s in states.items() if name.startswith("管道健康")), states
    # all ten counties: in the county selector and in the overview's grid/table
    assert report["counties"] == list(COUNTIES)
    for county in COUNTIES:
        assert dom.count(county) >= 3, county
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line and ("ERROR" in line or "error" in line)]
    assert not console, console


def test_preview_screenshot(chromium, preview_file):
    shot = Path(tempfile.mkdtemp(prefix="pingan-shot-")) / "preview.png"
    result = _run(chromium, "--window-size=1600,2200", f"--screenshot={shot}", preview_file.as_uri())
    assert shot.is_file() and shot.stat().st_size > 50_000, (result.stderr or "")[-2000:]
    with shot.open("rb") as fh:
        header = fh.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (1600, 2200)
    # the committed docs/img/preview.png is refreshed only on request, so a test run never dirties the tree
    target = SCREENSHOT if os.environ.get("PINGAN_UPDATE_SCREENSHOT") else REPO / "var" / "preview.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, target)
    shutil.rmtree(shot.parent, ignore_errors=True)
