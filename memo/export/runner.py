"""One call behind ``memo export``: check the options against the format table, run each export.

A model with caption / feature inputs is validated with the tables given as ``text`` /
``features`` (the options of ``memo score``); a missing one is an error before any work.
"""

from __future__ import annotations

import logging

from memo.data.inputs import StreamProvider
from memo.data.streams import open_side_inputs
from memo.errors import InputError
from memo.export.errors import ExportError
from memo.export.formats import FORMATS
from memo.export.onnx_export import ExportResult
from memo.export.options import ExportOptions, check_export_options
from memo.models.bundle import Bundle
from memo.models.named import resolve_model

log = logging.getLogger(__name__)


def stream_providers(bundle: Bundle, options: ExportOptions) -> dict[str, StreamProvider]:
    """The caption / feature tables of ``options`` (:func:`memo.data.streams.open_side_inputs`)."""
    try:
        return open_side_inputs(bundle, options, videos=options.videos, purpose="for validation")
    except InputError as exc:
        raise ExportError(str(exc)) from None


def run_export(options: ExportOptions) -> list[ExportResult]:
    """Export ``options.model`` to each format asked for, in the table's order."""
    profile = check_export_options(options)
    bundle = resolve_model(options.model)
    providers = stream_providers(bundle, options)
    return [
        fmt.step(bundle, options, profile, providers)
        for name, fmt in FORMATS.items()
        if name in options.formats
    ]
