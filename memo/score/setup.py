"""Checks of everything that does not depend on the individual video, run before any work.

An unknown backend, a GPU that is not there, an ONNX file that was never exported, a
bundle that needs captions and got none, an output folder that cannot be written, or two
options that contradict each other: each is one line and exit status 2, found before a
video is decoded and before the output file (or its sidecar) is created or touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memo.errors import BundleError, MemoError, OutputError
from memo.formats import check_precision
from memo.models.spec import FROM_VIDEO, ModelSpec
from memo.score.settings import sidecar_path
from memo.score.writers import output_format


def check_numbers(batch_size: int, workers: int, threads: int | None, precision: str = "fp32") -> None:
    check_precision(precision)
    if batch_size < 1:
        raise MemoError("--batch-size must be at least 1")
    if workers < 1:
        raise MemoError("--workers must be at least 1")
    if threads is not None and threads < 1:
        raise MemoError("--threads must be at least 1")


def check_output(output: Path, *, resume: bool, overwrite: bool) -> None:
    """The output can be created (or resumed) here, without creating or touching anything."""
    if resume and overwrite:
        raise OutputError("--resume and --overwrite contradict each other: pick one")
    fmt = output_format(output)
    journal = output.with_name(output.name + ".journal.jsonl")
    exists = output.exists() or (fmt == "parquet" and journal.exists())
    if output.is_dir():
        raise OutputError(f"{output}: is a directory")
    if exists and not (resume or overwrite):
        raise OutputError(
            f"{output}: already exists; use --resume to continue it or --overwrite to replace it"
        )
    folder = _nearest_existing(output.parent)
    if not folder.is_dir():
        raise OutputError(f"{output}: cannot write the results ({folder} is a file, not a folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{output}: cannot write the results (permission denied in {folder})")
    for path in (output, sidecar_path(output)):
        if path.exists() and not os.access(path, os.W_OK):
            raise OutputError(f"{path}: cannot write the results (permission denied)")


def _nearest_existing(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_side_inputs(spec: ModelSpec, providers: Mapping[str, Any]) -> None:
    """A bundle with a text / features input needs ``--text`` / ``--features``: say so once."""
    flags = {"text": "--text CAPTIONS.csv", "features": "--features PATH"}
    for item in spec.inputs:
        if item.stream not in FROM_VIDEO and item.stream not in providers:
            raise BundleError(
                f"model {spec.name!r} needs a {item.stream} input ({item.name!r}): "
                f"give it with {flags.get(item.stream, '--' + item.stream)}"
            )
