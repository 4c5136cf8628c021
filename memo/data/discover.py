"""Find the videos to score under the paths a user gives.

The rule, documented in the README:

* A file named on the command line is always an input, whatever its extension.
* A directory is walked recursively. Inside it a file is an input when its extension
  (case-insensitive) is in the extension set (``DEFAULT_EXTENSIONS`` or ``--ext``).
* Hidden files and directories (name starting with ``.``) are skipped while walking.
* Symbolic links to files are followed; a dangling link with a video extension is kept
  as an input so that its row says why it failed. Links to directories are followed once
  (a directory reached twice through links is not walked again).
* Results are sorted and de-duplicated (a file reached by a relative and an absolute path
  counts once), so the order of a run is deterministic.
* A named path that does not exist is kept as an input (its row says "no such file") as
  long as something else was found: one typo in a 50,000-line list must not stop the run.
  Only when nothing at all exists is it an error.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from memo.errors import InputError

DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "mp4", "m4v", "mov", "qt", "webm", "mkv", "avi", "gif", "mpg", "mpeg", "m2v",
    "wmv", "flv", "3gp", "ts", "mts", "m2ts", "ogv", "mxf",
)  # fmt: skip


def normalise_extensions(extensions: Iterable[str]) -> frozenset[str]:
    """``[".MP4", "webm"]`` -> ``{"mp4", "webm"}``."""
    return frozenset(e.strip().lower().lstrip(".") for e in extensions if e.strip())


def discover_videos(
    inputs: Sequence[str | os.PathLike[str]],
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
) -> list[str]:
    """Expand files and directories into a sorted list of video paths (as strings).

    Missing paths are kept (see the module rule); raises :class:`InputError` when every
    named path is missing.
    """
    wanted = normalise_extensions(extensions)
    found: dict[str, str] = {}  # absolute path -> the path as first spelled
    missing: list[str] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for video in _walk(path, wanted):
                found.setdefault(_key(video), video)
        else:
            if not (path.exists() or path.is_symlink()):
                missing.append(str(raw))
            found.setdefault(_key(str(path)), str(path))
    if missing and len(set(missing)) >= len(found):
        more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise InputError(f"{missing[0]}: no such file or directory{more}")
    return sorted(found.values())


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be opened, told apart before any decoder sees it; ``None`` if it can.

    A symbolic-link loop (``a -> b -> a``) and a missing file both fail ``os.path.exists``;
    ``os.stat``'s errno tells them apart, so a loop is reported as a loop.
    """
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path}: symbolic-link loop (the link leads back to itself)"
        if exc.errno == errno.ENOENT:
            if os.path.islink(path):
                return f"{path}: dangling symbolic link (target {os.readlink(path)!r} does not exist)"
            return f"{path}: no such file"
    return None


def _key(path: str) -> str:
    """``videos/a.mp4`` and ``/home/me/videos/a.mp4`` are the same input."""
    return os.path.normcase(os.path.abspath(path))


def _walk(root: Path, wanted: frozenset[str]) -> list[str]:
    videos: list[str] = []
    seen_dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            if name.rsplit(".", 1)[-1].lower() in wanted and "." in name:
                videos.append(os.path.join(dirpath, name))
    return videos
