"""``memo report``: results file -> page data -> thumbnails -> one HTML file.

:func:`write_report` is the whole command as a library call (``memo score --report`` calls
it too); it logs with :mod:`logging` and returns a :class:`ReportSummary`.
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memo.errors import MemoError, OutputError
from memo.report.data import page_data
from memo.report.links import absolute_href, link_base, resolve_video, video_base
from memo.report.load import Results, read_results
from memo.report.render import INLINE_LIMIT, write_page
from memo.report.thumbs import Strip, ThumbnailCache, make_strips, sampling_from

log = logging.getLogger(__name__)
SUFFIXES = (".html", ".htm")


@dataclass
class ReportOptions:
    results: Path
    output: Path = Path("report.html")
    top: int = 12  # gallery: this many most and least memorable videos per output
    bins: int = 20  # histogram bins
    thumbnails: bool = True
    workers: int = 2  # videos decoded at once for thumbnails
    cache: Path | None = None  # thumbnail cache folder (default: $MEMO_HOME/cache/report-thumbs)
    inline_limit: int = INLINE_LIMIT


@dataclass
class ReportSummary:
    output: Path
    rows: int
    gallery: int  # videos in the gallery
    thumbnails: int  # strips shown
    cached: int  # of which read from the cache
    placeholders: int  # gallery videos that did not open
    files_dir: Path | None  # NAME_files/ when the page was too large for one file
    bytes: int
    seconds: float


def check_report_options(options: ReportOptions) -> None:
    """Refuse bad options before reading anything (``memo score --report`` checks before scoring)."""
    if options.top < 1:
        raise MemoError("--top must be at least 1")
    if options.bins < 1:
        raise MemoError("--bins must be at least 1")
    if options.workers < 1:
        raise MemoError("--workers must be at least 1")
    if options.output.suffix.lower() not in SUFFIXES:
        raise MemoError(
            f"{options.output}: a report is an .html file (got {options.output.suffix or 'no extension'!r})"
        )
    if options.output.is_dir():
        raise OutputError(f"{options.output}: is a directory")
    if options.output.exists() and options.output.resolve() == options.results.resolve():
        raise OutputError(f"{options.output}: is the results file; write the report elsewhere")


def write_report(options: ReportOptions) -> ReportSummary:
    started = time.perf_counter()
    check_report_options(options)
    results = read_results(options.results)
    data = page_data(results, top=options.top, bins=options.bins)
    report_dir = options.output.resolve().parent
    scored_in = [Path(results.sidecar["cwd"])] if (results.sidecar or {}).get("cwd") else []
    folders = [*scored_in, Path.cwd(), results.source.resolve().parent]
    base = video_base([r["path"] for r in results.rows], folders)
    data["link_base"] = link_base(base, report_dir)
    data["hrefs"] = {
        str(i): absolute_href(r["path"], report_dir)
        for i, r in enumerate(results.rows)
        if os.path.isabs(r["path"])
    }
    gallery = sorted({i for lists in data["gallery"].values() for side in lists.values() for i in side})
    strips: dict[int, Strip | str] = {}
    if options.thumbnails and gallery:
        videos = {
            i: (resolve_video(results.rows[i]["path"], base), results.rows[i].get("frame_times"))
            for i in gallery
        }
        strips = make_strips(
            videos, sampling_from(results.sidecar), ThumbnailCache(options.cache), options.workers
        )
    data["videos"], thumbs = gallery_videos(results, gallery, strips)
    try:
        folder = write_page(options.output, data, thumbs, options.inline_limit)
    except OSError as exc:
        raise OutputError(f"{options.output}: cannot write the report ({exc.strerror or exc})") from exc
    shown = [s for s in strips.values() if isinstance(s, Strip)]
    summary = ReportSummary(
        output=options.output, rows=len(results.rows), gallery=len(gallery), thumbnails=len(shown),
        cached=sum(s.cached for s in shown), placeholders=len(strips) - len(shown), files_dir=folder,
        bytes=options.output.stat().st_size, seconds=time.perf_counter() - started,
    )  # fmt: skip
    log.info("report %s: %d rows, %d thumbnails (%d cached) in %.1f s", options.output, summary.rows,
             summary.thumbnails, summary.cached, summary.seconds)  # fmt: skip
    return summary


def gallery_videos(
    results: Results, gallery: list[int], strips: dict[int, Strip | str]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Per gallery row: thumbnail key or the reason there is none, frame times and per-frame scores."""
    videos: dict[str, Any] = {}
    thumbs: dict[str, bytes] = {}
    for i in gallery:
        row = results.rows[i]
        strip = strips.get(i)
        entry: dict[str, Any] = {"thumb": None, "problem": None, "tiles": 0}
        if isinstance(strip, Strip):
            key = f"t{i}"
            thumbs[key] = strip.jpeg
            width, height = _size(strip.jpeg)
            entry.update(thumb=key, thumb_w=width, thumb_h=height, tiles=strip.tiles)
        elif isinstance(strip, str):
            entry["problem"] = strip
        entry["times"] = row.get("frame_times")
        entry["frames"] = {o: row.get(f"frame_{o}") for o in results.outputs if row.get(f"frame_{o}")}
        videos[str(i)] = entry
    return videos, thumbs


def _size(jpeg: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as image:
        return image.size
