"""`memo report` at library scale: a 50,000-row results file, written and opened in headless Chromium.

    python benchmarks/report_50k.py [--rows 50000] [--repeats 3] [--out /tmp/memo-report-bench]

Prints: the time to write the report and its size; then, over ``--repeats`` fresh page
loads, the time from navigation start until the page has drawn (counts, histogram,
gallery, first page of the table), the time to sort all rows by score (one header click)
and to filter them by a path search, measured inside the page with ``performance.now()``.
Needs Chromium + chromedriver (Debian: ``apt-get install chromium chromium-driver``) and
selenium (the ``dev`` extra). The gallery's videos do not exist (synthetic paths), so the
thumbnail step only writes placeholders: the figures are the page's, not the decoder's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memo.report import ReportOptions, write_report
from tests.reporthelp import chromium_missing, open_report, start_chromium, synthetic_results

SORT = "const t = performance.now(); document.querySelector('th[data-col=\"score\"]').click(); return performance.now() - t"
# the search box waits 120 ms after the last key before filtering; time the filter itself
SEARCH = """const box = document.getElementById('search'); box.value = arguments[0];
const t = performance.now(); box.dispatchEvent(new Event('input'));
return new Promise(done => setTimeout(() => done(performance.now() - t - 120), 130));"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/memo-report-bench"))
    args = parser.parse_args()
    missing = chromium_missing()
    if missing:
        raise SystemExit(f"cannot run: {missing}")
    args.out.mkdir(parents=True, exist_ok=True)
    results, page = args.out / "scores.csv", args.out / "report.html"
    synthetic_results(results, args.rows)
    started = time.perf_counter()
    summary = write_report(ReportOptions(results, page, cache=args.out / "thumbs"))
    print(f"rows: {args.rows}; report written in {time.perf_counter() - started:.2f} s; "
          f"{summary.bytes / 1e6:.2f} MB, one file: {summary.files_dir is None}")  # fmt: skip
    loads, sorts, searches = [], [], []
    driver = start_chromium()
    try:
        for _ in range(args.repeats):
            loads.append(open_report(driver, page))
            sorts.append(driver.execute_script(SORT))
            searches.append(driver.execute_script(SEARCH, "batch007/clip_0071"))
    finally:
        driver.quit()
    for name, values in (("page drawn after", loads), ("sort by score", sorts), ("path search", searches)):
        shown = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name}: median {statistics.median(values):.0f} ms ({shown})")


if __name__ == "__main__":
    main()
