"""Helpers for the report's browser test and benchmark: headless Chromium, a large synthetic results file."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

# The flags of the project brief: no GPU, no sandbox (root in CI), nothing fetched at start.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update")  # fmt: skip
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
RESULT_COLUMNS = ["path", "score", "frames", "status", "error", "warning", "model", "model_version",
                  "backend", "seconds", "decoder"]  # fmt: skip


def chromium_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not any(shutil.which(b) for b in BROWSERS):
        return "no Chromium here (apt-get install chromium chromium-driver; .ci/run installs them)"
    if not shutil.which("chromedriver"):
        return "no chromedriver here (apt-get install chromium-driver)"
    return None


def start_chromium(width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium driven by Selenium, with Debian's chromedriver (nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.binary_location = next(shutil.which(b) for b in BROWSERS if shutil.which(b))
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


def open_report(driver: Any, page: Path, timeout: float = 60.0) -> float:
    """Load ``page``; milliseconds from navigation start until the page has drawn its table."""
    driver.get(page.resolve().as_uri())
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready = driver.execute_script("return window.memoReady || null")
        if ready is not None:
            return float(ready)
        time.sleep(0.05)
    raise TimeoutError(f"{page}: the report did not finish drawing in {timeout:.0f} s")


def synthetic_results(path: Path, rows: int, seed: int = 0, failed_every: int = 50) -> list[dict[str, Any]]:
    """A results CSV as ``memo score`` writes it: ``rows`` videos, every ``failed_every``-th failed."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(8, 2, size=rows)
    out = []
    for i in range(rows):
        failed = i % failed_every == failed_every - 1
        name = f"library/batch{i // 1000:03d}/clip_{i:06d}.mp4"
        out.append({"path": name, "score": None if failed else float(scores[i]), "frames": 0 if failed else 7,
                    "status": "failed" if failed else "ok", "error": f"{name}: no such file" if failed else "",
                    "warning": "", "model": "resmem", "model_version": "1.1.6", "backend": "torch",
                    "seconds": round(float(rng.uniform(0.05, 0.4)), 4), "decoder": "" if failed else "pyav"})  # fmt: skip
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        for row in out:
            writer.writerow(
                {k: "" if v is None else repr(v) if isinstance(v, float) else v for k, v in row.items()}
            )
    return out
