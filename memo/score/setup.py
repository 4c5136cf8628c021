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

from memo.data.streams import check_stream_inputs
from memo.errors import MemoError, OutputError
from memo.models.spec import ModelSpec
from memo.score.settings import sidecar_path
from memo.score.writers import output_format


def check_numbers(batch_size: int, workers: int, threads: int | None) -> None:
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
    """A bundle with a text / features input needs ``--text`` / ``--features``: the one check of
    :func:`memo.data.streams.check_stream_inputs`, for callers that opened the providers."""
    check_stream_inputs(spec, list(providers))


def check_fixed_frames(bundle_dir: Path, num_frames: int | None, backend: str) -> None:
    """Refuse ``--frames N`` when ``backend`` runs an exported graph fixed at another frame count
    (``export.json``'s ``fixed_frames``, e.g. AMNetVid's ConvLSTM unrolled for 7 steps); called
    once the backend is chosen, before any video is read."""
    if num_frames is None or backend == "torch":
        return
    from memo.export.record import read_records
    from memo.export.shapes import fixed_frames
    from memo.models.bundle import read_bundle

    bundle = read_bundle(bundle_dir)  # as saved: the spec before --frames
    # every export of a bundle is traced from its spec: one record says it (older exports: the spec)
    recorded = [
        r["fixed_frames"]
        for r in read_records(bundle).values()
        if isinstance(r, dict) and "fixed_frames" in r
    ]
    fixed = recorded[0] if recorded else fixed_frames(bundle.spec)
    for name, count in fixed.items():
        if count != num_frames:
            raise MemoError(
                f"--frames {num_frames}: the {backend} export of {bundle.spec.name!r} is fixed at {count} frames "
                f"of input {name!r} (export.json); drop --frames or score with --backend torch"
            )
