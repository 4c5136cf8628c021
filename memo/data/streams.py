"""The side inputs of a model (captions, precomputed features): opened once, looked up by id.

``memo score``, ``memo bench``, ``memo explain`` and ``memo export`` take them with the same
options: ``--text CSV`` (with ``--id-column`` / ``--text-column``), ``--features PATH``
(repeated: the sources are concatenated in that order) and ``--feature-rows FILE``, and all
four open them with :func:`open_side_inputs`: the options checked, every caption / feature
input of the model given its table and no table given that the model does not read (one
check, :func:`check_stream_inputs`), then the tables opened. A bundle whose inputs are all
such streams needs no video: its inputs are the ids of these tables.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from memo.data.inputs import StreamProvider
from memo.data.tables import STREAM_OPTIONS, TableOptions, check_table_options
from memo.data.tables import SideInputs as SideInputs  # where score and explain found it
from memo.errors import InputError
from memo.models.bundle import Bundle
from memo.models.spec import FROM_VIDEO, ModelSpec


def needs_frames(spec: ModelSpec) -> bool:
    """Whether some input of ``spec`` is computed from the video file itself."""
    return any(i.stream in FROM_VIDEO for i in spec.inputs)


def open_side_inputs(
    bundle: Bundle,
    tables: TableOptions,
    *,
    device: str = "cpu",
    videos: str | Path | None = None,
    purpose: str = "",
    opened: Mapping[str, StreamProvider] | None = None,
) -> dict[str, StreamProvider]:
    """The side inputs of ``bundle`` from the tables ``tables`` give (plus ``opened``, providers a
    caller built itself), checked before anything is opened: :func:`check_table_options`, then
    :func:`check_stream_inputs` (``purpose`` ends its message, e.g. ``"for validation"``). A
    caption encoder shipped in the bundle is the one used. Raises :class:`InputError`."""
    check_table_options(tables)
    given = list(dict.fromkeys([*(opened or {}), *given_streams(tables)]))
    check_stream_inputs(bundle.spec, given, videos, purpose)
    if tables.text is not None:
        from memo.data.text_encoders import check_encoders_here

        for item in bundle.spec.inputs:
            if item.stream == "text":
                check_encoders_here(item.encoder, bundle.path)
    return {**(opened or {}), **open_tables(tables, device, bundle.path)}


def given_streams(options: TableOptions) -> list[str]:
    """The streams whose table ``options`` give (``"text"``, ``"features"``)."""
    return [stream for stream in STREAM_OPTIONS if getattr(options, stream)]


def open_tables(
    options: TableOptions, device: str = "cpu", bundle_dir: Path | None = None
) -> dict[str, StreamProvider]:
    """:func:`open_providers` of the tables ``options`` give."""
    return open_providers(
        options.text,
        options.features,
        id_column=options.id_column,
        text_columns=options.text_column,
        feature_rows=options.feature_rows,
        device=device,
        bundle_dir=bundle_dir,
    )


def check_stream_inputs(
    spec: ModelSpec, given: Collection[str], videos: str | Path | None = None, purpose: str = ""
) -> None:
    """Before any work: every caption / feature input of ``spec`` has its table among ``given``
    (stream names), no table is given for an input the model lacks, and ``videos`` is only
    given to a model that reads videos. ``purpose`` ends the missing-table message
    (``"for validation"``)."""
    missing = [
        f"{STREAM_OPTIONS.get(item.stream, 'a ' + item.stream + ' input')} (input {item.name!r})"
        for item in spec.inputs
        if item.stream not in FROM_VIDEO and item.stream not in given
    ]
    if missing:
        end = f" {purpose}" if purpose else ""
        raise InputError(f"model {spec.name!r} needs {' and '.join(missing)}{end}")
    for stream in given:
        if stream not in spec.streams:
            option = STREAM_OPTIONS.get(stream, stream)
            raise InputError(
                f"{option}: model {spec.name!r} has no {stream} input (its inputs: {_inputs(spec)})"
            )
    if videos is not None and not needs_frames(spec):
        raise InputError(
            f"--videos: model {spec.name!r} reads no video (its inputs: {_inputs(spec)}); "
            "its samples are the first ids of its caption / feature tables"
        )


def _inputs(spec: ModelSpec) -> str:
    return ", ".join(f"{i.name} ({i.stream})" for i in spec.inputs)


def open_providers(
    text: Path | None = None,
    features: Sequence[Path] | None = None,
    *,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    feature_rows: Path | None = None,
    device: str = "cpu",
    bundle_dir: Path | None = None,
) -> dict[str, StreamProvider]:
    """The providers of the sources given: ``"text"`` (a caption CSV, embedded by the encoder the
    bundle names; one shipped in ``bundle_dir`` wins) and ``"features"`` (folders of ``<id>.npy``
    or matrices, concatenated in order)."""
    providers: dict[str, StreamProvider] = {}
    if text is not None:
        from memo.data.text import CaptionTable, TextProvider

        table = CaptionTable(text, id_column, list(text_columns) if text_columns else None)
        providers["text"] = TextProvider(table, "cuda" if device.startswith("cuda") else "cpu", bundle_dir)
    if features:
        from memo.data.features import FeatureProvider, open_features

        providers["features"] = FeatureProvider(open_features(list(features), feature_rows))
    return providers


def provider_ids(providers: Mapping[str, Any]) -> list[str]:
    """The ids a text-only / features-only run scores when no path is given: every id of the
    caption file, else of the feature table."""
    text = providers.get("text")
    if text is not None:
        return list(text.table.ids())
    features = providers.get("features")
    if features is not None:
        return list(features.table.index)
    return []


def covered_ids(providers: Mapping[str, Any], count: int) -> list[str]:
    """The first ``count`` ids (in :func:`provider_ids` order) that every table given covers."""
    tables = [table for p in providers.values() if (table := getattr(p, "table", None)) is not None]
    found: Iterator[str] = (i for i in provider_ids(providers) if all(i in t for t in tables))
    return list(islice(found, count))
