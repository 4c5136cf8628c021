"""File-system helpers at the bottom of the package: where memo keeps its files, and how it
writes them so that a crash leaves the old file or the new one, never half of either.

Every write of a result, cache, checkpoint, plot or bundle goes through this module:

* :func:`atomic_path` yields a temporary path beside the target for writers that want a
  file name (``np.save``, safetensors, pyarrow, matplotlib); :func:`atomic_open` yields an
  open handle; :func:`atomic_write_bytes` / ``_text`` / ``_json`` cover the simple cases.
* :func:`atomic_dir` yields a temporary directory beside the target, then swaps it in.

On success the data is flushed to disk (``fsync`` of the file, then of its folder) and the
temporary name is renamed over the target (``os.replace``, atomic on POSIX within a file
system). On any exception, ``KeyboardInterrupt`` included, the temporary file or folder is
removed and the old target is left untouched.

Permissions are those a plain ``open()`` / ``mkdir()`` would give (``0o666`` / ``0o777``
minus the umask): ``tempfile.mkstemp`` creates files ``0600`` and ``mkdtemp`` folders
``0700``, which made bundles written by one user unreadable by a colleague or a service
account. The umask is read from ``/proc/self/status`` where Linux provides it, since the
portable way (``os.umask`` set and restore) briefly changes it for every thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_UMASK_LOCK = threading.Lock()


def memo_home() -> Path:
    """memo's own folder: ``$MEMO_HOME``, default ``~/.cache/memo`` (named bundles, caches)."""
    return Path(os.environ.get("MEMO_HOME") or Path.home() / ".cache" / "memo")


def current_umask() -> int:
    """The process umask, without changing it where the OS lets us read it."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``os.mkdir(path)`` would give a new folder."""
    return 0o777 & ~current_umask()


def _fsync_path(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; file systems that cannot are skipped."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. some network or FUSE file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success it replaces ``path``.

    ``suffix`` (default: the target's suffix) ends the temporary name, for writers that
    pick a format or append an extension from the name (``np.save`` adds ``.npy``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ending = target.suffix if suffix is None else suffix
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{ending}", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        _fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(target.parent)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """``open()`` for writing, atomically: the target appears only when the block ends."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as handle:
        yield handle
        handle.flush()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike[str], data: object, indent: int | None = 2) -> None:
    """JSON with a trailing newline; serialisation errors leave the old file untouched."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty folder beside ``path``; on success it takes ``path``'s place.

    Everything written inside gets the permissions a normal ``mkdir``/``open`` would give.

    An existing folder is swapped with the new one in one atomic step where Linux allows
    (``renameat2`` with ``RENAME_EXCHANGE``), then removed. Elsewhere it is moved aside, the
    new folder renamed in, then the old one removed: a crash between those two renames
    (microseconds) leaves the old folder as ``.NAME.old-PID`` beside the target, never a
    half-written one in its place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _settle_tree(tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_path(target.parent)


def _settle_tree(root: Path) -> None:
    """Give a freshly built tree the modes of a normal ``mkdir``/``open`` and flush it to disk.

    Needed beyond ``mkdtemp``'s 0700: some writers create their files 0600 themselves
    (safetensors does, so ``save_file`` into a folder would otherwise give 0600 weights).
    Executable files keep being executable (``0o777`` minus the umask).
    """
    folder_mode, plain_mode = dir_mode(), file_mode()
    for folder, dirs, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if path.is_symlink():
                continue
            executable = path.stat().st_mode & 0o111
            os.chmod(path, folder_mode if executable else plain_mode)
            _fsync_path(path)
        for name in dirs:
            if not Path(folder, name).is_symlink():
                os.chmod(Path(folder, name), folder_mode)
        os.chmod(folder, folder_mode)
        _fsync_path(Path(folder))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28 (e.g. musl)
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return done == 0  # EINVAL/ENOSYS: a file system or kernel without it; the caller falls back


def _swap_in(new: Path, target: Path) -> None:
    if not target.exists() and not target.is_symlink():
        os.replace(new, target)
        return
    if target.is_dir() and not target.is_symlink() and _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the old folder
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
