"""Headless Chromium for the leaderboard page: its rendered DOM (what a reader's browser shows,
scripts run) and a screenshot. Debian's ``chromium`` package; nothing here touches the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.errors import BenchError

# No sandbox (containers and CI run as root), no GPU, no background traffic, a fresh profile.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-extensions", "--disable-sync", "--hide-scrollbars", "--mute-audio")


def chromium_path() -> str | None:
    """The Chromium executable ($BENCH_CHROMIUM, else chromium / chromium-browser on PATH), or None."""
    for candidate in (os.environ.get("BENCH_CHROMIUM"), "chromium", "chromium-browser", "/usr/bin/chromium"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    exe = chromium_path()
    if exe is None:
        raise BenchError("Headless Chromium is not installed (looked for $BENCH_CHROMIUM, chromium, "
                         "chromium-browser); install Debian's package with `apt-get install chromium`.")
    with tempfile.TemporaryDirectory(prefix="bench-chromium-") as profile:
        try:
            done = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BenchError(f"Headless Chromium did not finish within {timeout_s:.0f} s ({' '.join(args[-1:])}).") \
                from None
    if done.returncode != 0:
        raise BenchError(f"Headless Chromium failed (exit {done.returncode}) on {args[-1]}: "
                         f"{done.stderr.strip()[-400:]}")
    return done


def page_url(html: Path, fragment: str = "") -> str:
    """file:// URL of a local page, with an optional '#fragment' (the page's test hook)."""
    return Path(html).resolve().as_uri() + (f"#{fragment}" if fragment else "")


def dump_dom(url: str, timeout_s: float = 60.0) -> str:
    """The page's DOM after its scripts ran (chromium --dump-dom)."""
    return _run(["--virtual-time-budget=2000", "--dump-dom", url], timeout_s).stdout


def screenshot(url: str, png: Path, width: int = 1600, height: int = 2000, timeout_s: float = 60.0) -> Path:
    """Write a PNG of the rendered page to ``png`` atomically (a temp file beside it, then a rename)."""
    png = Path(png)
    fd, tmp = tempfile.mkstemp(dir=png.parent, prefix=".tmp-", suffix=".png")
    os.close(fd)
    try:
        _run([f"--screenshot={tmp}", f"--window-size={width},{height}", "--virtual-time-budget=2000", url], timeout_s)
        if os.path.getsize(tmp) == 0:
            raise BenchError(f"Headless Chromium wrote an empty screenshot of {url}.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, png)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return png
