"""Real sample inputs for validating and benchmarking exports.

Validation runs on decoded frames of the videos the caller names (``memo export --videos DIR``,
whose default the CLI reads from ``$MEMO_SAMPLE_VIDEOS``); when none are named, on a few
generated videos (:mod:`memo.data.synthetic`) written once under ``$MEMO_HOME/samples``. The
library reads no folder it is not given. A model's caption / feature inputs come from the
tables given (``--text``, ``--features``), looked up by the videos' names; a model with no
video input at all is validated on the first ids those tables share, like ``memo score``
without paths.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from memo.data import streams
from memo.data.decoders import DecoderChoice
from memo.data.discover import discover_videos
from memo.data.inputs import PreparedVideo, StreamProvider, prepare_video
from memo.data.streams import covered_ids, needs_frames
from memo.data.synthetic import write_samples
from memo.errors import InputError, MemoError
from memo.export.errors import ExportError
from memo.export.options import check_sample_folder
from memo.fsio import memo_home
from memo.models.spec import ModelSpec

log = logging.getLogger(__name__)

#: How many videos are generated when no sample videos are named.
GENERATED_SAMPLES = 8


def sample_videos(videos: str | Path | None = None, count: int = 8) -> list[str]:
    """Up to ``count`` video paths from the folder ``videos``; None: generated sample videos
    (:data:`GENERATED_SAMPLES` at most) in ``$MEMO_HOME/samples``, written once."""
    if videos is None:
        folder = memo_home() / "samples"
        log.info("no sample videos named (--videos); using generated ones in %s", folder)
        return [str(p) for p in write_samples(folder, count=min(count, GENERATED_SAMPLES), seconds=2.0)]
    check_sample_folder(videos)
    folder = Path(videos)
    paths = discover_videos([str(folder)])
    if not paths:
        raise MemoError(f"{folder}: no videos found")
    return sorted(paths)[:count]


def check_stream_inputs(spec: ModelSpec, given: Collection[str], videos: str | Path | None = None) -> None:
    """:func:`memo.data.streams.check_stream_inputs` for validation, as an :class:`ExportError`."""
    try:
        streams.check_stream_inputs(spec, given, videos, "for validation")
    except InputError as exc:
        raise ExportError(str(exc)) from None


def sample_inputs(
    spec: ModelSpec,
    videos: str | Path | None = None,
    count: int = 8,
    providers: Mapping[str, StreamProvider] | None = None,
) -> list[str]:
    """What validation runs on: sample video paths, or for a model that reads no video, the first
    ``count`` ids that every caption / feature table in ``providers`` covers."""
    if needs_frames(spec):
        return sample_videos(videos, count)
    ids = covered_ids(providers or {}, count)
    if not ids:
        raise ExportError(f"model {spec.name!r}: no id is in every caption / feature table given")
    return ids


def prepare_samples(
    spec: ModelSpec,
    paths: Sequence[str],
    providers: Mapping[str, StreamProvider] | None = None,
    decoder: DecoderChoice | None = None,
) -> list[PreparedVideo]:
    """Decode and preprocess each path for ``spec``; unreadable videos are skipped with a warning.

    ``providers`` supply the non-visual inputs (captions, precomputed features) of models that
    have them; ``decoder`` (default PyAV) decodes the frames.
    """
    prepared = []
    problems = []
    for path in paths:
        try:
            prepared.append(prepare_video(path, spec, providers, decoder))
        except MemoError as exc:
            log.warning("skipping sample %s: %s", path, exc)
            problems.append(str(exc))
    if not prepared:
        what = "sample videos could be decoded" if needs_frames(spec) else "sample ids had every input"
        raise MemoError(f"none of the {len(paths)} {what} (first: {problems[0] if problems else '-'})")
    return prepared
