"""Checks of everything that does not depend on the individual video, run before any work.

An unknown backend, a GPU that is not there, an ONNX file that was never exported, a
bundle that needs captions and got none, an output folder that cannot be written, or two
options that contradict each other: each is one line and exit status 2, found before a
video is decoded and before the output file (or its sidecar) is created or touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memo.data.streams import check_stream_inputs
from memo.errors import MemoError
from memo.models.spec import ModelSpec
from memo.score.checks import check_numbers, check_output


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


__all__ = ["check_fixed_frames", "check_numbers", "check_output", "check_side_inputs"]
