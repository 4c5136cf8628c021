"""`memo report` in a real browser: headless Chromium (Debian's chromium + chromium-driver) via Selenium.

Skips with the reason where Chromium, chromedriver or selenium is missing (.ci/run installs
them); tests/test_report.py checks the page's data without a browser.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from memo.report import ReportOptions, write_report
from memo.report.load import read_results
from tests.conftest import SHARED_VIDEOS
from tests.reporthelp import chromium_missing, open_report, start_chromium, synthetic_results

pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))


@pytest.fixture(scope="module")
def browser() -> Any:
    driver = start_chromium()
    yield driver
    driver.quit()


def _shown(driver: Any, column: int) -> list[str]:
    """The text of one column of the table's current page."""
    script = "return [...document.querySelectorAll('#rows tbody tr')].map(tr => tr.cells[arguments[0]].textContent)"
    return driver.execute_script(script, column)


def _click(driver: Any, column: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'th[data-col="{column}"]').click()


def _wait_for(driver: Any, element_id: str, text: str, timeout: float = 10) -> str:
    end = time.monotonic() + timeout
    while True:
        found = driver.execute_script(f"return document.getElementById('{element_id}').textContent")
        if found == text or time.monotonic() > end:
            return found
        time.sleep(0.05)


def test_report_of_the_shared_videos_sorts_filters_and_shows_frames(
    tmp_path: Path, framecnn_bundle, browser
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from memo.score import ScoreOptions, score_videos

    if not SHARED_VIDEOS.is_dir():
        pytest.skip("../shared/videos is not present")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    out = tmp_path / "scores.csv"
    score_videos(
        ScoreOptions([str(SHARED_VIDEOS), str(broken)], out, model=str(framecnn_bundle.path), per_frame=True)
    )
    page = tmp_path / "report" / "report.html"
    write_report(ReportOptions(out, page, top=3, cache=tmp_path / "thumbs"))
    rows = read_results(out).rows
    open_report(browser, page)

    images = browser.execute_script(
        "return [...document.querySelectorAll('#gallery img')].map(i => i.naturalWidth)"
    )
    assert len(images) == 6 and all(w > 0 for w in images)  # the inline JPEG strips decode
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gallery .strip svg polyline")) == 6  # per-frame lines

    order = sorted(range(len(rows)), key=lambda i: (rows[i]["score"] is None, -(rows[i]["score"] or 0), i))
    _click(browser, "score")  # first click on a score: most memorable first
    assert _shown(browser, 0) == [rows[i]["path"] for i in order]
    assert _shown(browser, 1)[-1] == "–"  # the failed row (no score) stays last
    _click(browser, "score")
    ascending = sorted(range(len(rows)), key=lambda i: (rows[i]["score"] is None, rows[i]["score"] or 0, i))
    assert _shown(browser, 0) == [rows[i]["path"] for i in ascending]
    _click(browser, "path")
    assert _shown(browser, 0) == sorted(r["path"] for r in rows)

    browser.find_element(By.ID, "search").send_keys("BIKES")  # case-insensitive
    bikes = [r["path"] for r in rows if "bikes" in r["path"].lower()]
    assert (
        _wait_for(browser, "match-count", f"{len(bikes)} of {len(rows)} rows")
        == f"{len(bikes)} of {len(rows)} rows"
    )
    assert _shown(browser, 0) == sorted(bikes)
    href = browser.find_element(By.CSS_SELECTOR, "#rows tbody a").get_attribute("href")
    assert (
        href.startswith("file://")
        and Path(href.removeprefix("file://")).resolve() == Path(sorted(bikes)[0]).resolve()
    )
    browser.find_element(By.ID, "search").send_keys(Keys.BACKSPACE * len("BIKES"))
    assert _wait_for(browser, "match-count", f"{len(rows)} rows") == f"{len(rows)} rows"
    browser.execute_script(
        "const s = document.getElementById('status-filter'); s.value = 'failed'; s.dispatchEvent(new Event('change'))"
    )
    assert _wait_for(browser, "match-count", f"1 of {len(rows)} rows") == f"1 of {len(rows)} rows"
    assert _shown(browser, 0) == [str(broken)]
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"\nscreenshot: {shot}")


def test_a_50000_row_report_opens_and_sorts_in_the_browser(tmp_path: Path, browser) -> None:
    results = tmp_path / "scores.csv"
    rows = synthetic_results(results, 50_000)
    page = tmp_path / "report.html"
    started = time.perf_counter()
    summary = write_report(ReportOptions(results, page, cache=tmp_path / "thumbs"))
    written = time.perf_counter() - started
    load_ms = open_report(browser, page)
    assert _wait_for(browser, "match-count", "50,000 rows") == "50,000 rows"
    assert len(_shown(browser, 0)) == 100  # one page drawn, not 50,000 rows
    sort_ms = browser.execute_script(
        "const t = performance.now(); document.querySelector('th[data-col=\"score\"]').click(); return performance.now() - t"
    )
    best = max(range(len(rows)), key=lambda i: rows[i]["score"] or -1)
    assert _shown(browser, 0)[0] == rows[best]["path"]
    print(f"\n50,000 rows: report written in {written:.1f} s, {summary.bytes / 1e6:.1f} MB; "
          f"opened in {load_ms:.0f} ms, sorted by score in {sort_ms:.0f} ms (headless Chromium)")  # fmt: skip
