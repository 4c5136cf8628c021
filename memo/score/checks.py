"""The option checks of `memo score` that need neither torch nor the model.

They run before anything heavy is imported, so a mistake in the options is a one-line
error in well under a second (``memo.score.setup`` adds the checks that need the bundle).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from memo.errors import MemoError, OutputError
from memo.score.writers import output_format

SUFFIX = ".memo.json"  # the settings record beside the output


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + SUFFIX)


def journal_path(output: Path) -> Path:
    """Where a Parquet run journals its finished rows until the file is rewritten."""
    return output.with_name(output.name + ".journal.jsonl")


def check_numbers(batch_size: int, workers: int, threads: int | None, precision: str = "fp32") -> None:
    from memo.formats import check_precision

    check_precision(precision)
    if batch_size < 1:
        raise MemoError("--batch-size must be at least 1")
    if workers < 1:
        raise MemoError("--workers must be at least 1")
    if threads is not None and threads < 1:
        raise MemoError("--threads must be at least 1")


def check_backend_name(backend: str) -> None:
    """An unknown ``--backend`` is refused before the model or any video is opened."""
    from memo.formats import FORMATS, WEIGHTS_BACKEND

    known = ["auto", WEIGHTS_BACKEND, *(f.backend for f in FORMATS.values())]
    if backend not in known:
        raise MemoError(f"unknown backend {backend!r} (known: {', '.join(dict.fromkeys(known))})")


def check_output(output: Path, *, resume: bool, overwrite: bool) -> None:
    """The output can be created (or resumed) here, without creating or touching anything."""
    if resume and overwrite:
        raise OutputError("--resume and --overwrite contradict each other: pick one")
    fmt = output_format(output)
    if output.is_dir():
        raise OutputError(f"{output}: is a directory")
    if not (resume or overwrite):
        _refuse_existing(output, fmt)
    folder = _nearest_existing(output.parent)
    if not folder.is_dir():
        raise OutputError(f"{output}: cannot write the results ({folder} is a file, not a folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{output}: cannot write the results (permission denied in {folder})")
    problem = _cannot_create_in(folder)
    if problem:
        raise OutputError(f"{output}: cannot write the results (cannot create files in {folder}: {problem})")
    for path in (output, sidecar_path(output)):
        if path.exists() and not os.access(path, os.W_OK):
            raise OutputError(f"{path}: cannot write the results (permission denied)")


def _refuse_existing(output: Path, fmt: str) -> None:
    if output.exists():
        raise OutputError(
            f"{output}: already exists; use --resume to continue it or --overwrite to replace it"
        )
    journal = journal_path(output)
    if fmt == "parquet" and journal.exists():
        raise OutputError(
            f"{output}: not written yet, but an interrupted run left {journal.name} (its finished rows); "
            "use --resume to continue that run or --overwrite to start again"
        )


def _nearest_existing(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _cannot_create_in(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (None: it can). ``os.access`` says yes to root
    everywhere, even in ``/proc``, so try (the probe file is removed at once)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".memo-probe-"):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)
