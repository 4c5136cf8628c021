"""Where the videos of a results file are, and how the report links to them.

``memo score`` writes each path as it was discovered: absolute, or relative to the folder
the run was started from (recorded as ``cwd`` in the settings sidecar since ``memo report``
exists). The report takes one base folder for all relative paths: the first of the scoring
run's folder, the current folder and the results file's folder under which most of the
first paths it checks exist (when none fits: the scoring run's folder, else the current one).

Links are relative to the report's own folder whenever the two share a root, so a report
and its videos can move together (a file share, a zip); otherwise a ``file://`` URI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

PROBE = 20  # relative paths checked to choose the base folder


def video_base(paths: Sequence[str], candidates: Sequence[Path]) -> Path:
    """The first of ``candidates`` under which most of the first relative ``paths`` exist."""
    relative = [p for p in paths if p and not os.path.isabs(p)][:PROBE]
    if not relative or not candidates:
        return candidates[0] if candidates else Path.cwd()
    for folder in candidates:
        found = sum((folder / p).exists() for p in relative)
        if found * 2 > len(relative):
            return folder
    return candidates[0]


def url_path(relative: str) -> str:
    """A relative path as a URL path (``/`` separators, each part percent-encoded)."""
    return "/".join(quote(part) for part in Path(relative).as_posix().split("/"))


def link_base(base: Path, report_dir: Path) -> str:
    """URL prefix for relative video paths, as seen from the report's folder (``''``, ``'../v/'``)."""
    try:
        rel = os.path.relpath(base.resolve(), report_dir.resolve())
    except ValueError:  # another drive (Windows)
        return base.resolve().as_uri() + "/"
    return "" if rel == "." else url_path(rel) + "/"


def absolute_href(path: str, report_dir: Path) -> str:
    """Link to an absolute video path: relative to the report when possible."""
    try:
        return url_path(os.path.relpath(path, report_dir.resolve()))
    except ValueError:
        return Path(path).as_uri()


def resolve_video(path: str, base: Path) -> Path:
    return Path(path) if os.path.isabs(path) else Path(os.path.normpath(base / path))
