"""The side inputs of a model (captions, precomputed features): opened once, looked up by id.

``memo score``, ``memo bench``, ``memo explain`` and ``memo export`` take them with the same
options: ``--text CSV`` (with ``--id-column`` / ``--text-column``), ``--features PATH``
(repeated: the sources are concatenated in that order) and ``--feature-rows FILE``. A bundle
whose inputs are all such streams needs no video: its inputs are the ids of these tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from memo.data.inputs import StreamProvider
from memo.models.spec import FROM_VIDEO, ModelSpec

#: The option that gives each side stream, as the commands spell it.
STREAM_OPTIONS: dict[str, str] = {"text": "--text", "features": "--features"}


def needs_frames(spec: ModelSpec) -> bool:
    """Whether some input of ``spec`` is computed from the video file itself."""
    return any(i.stream in FROM_VIDEO for i in spec.inputs)


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
