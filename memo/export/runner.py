"""One call behind ``memo export``: check the options against the format table, run each export.

A model with caption / feature inputs is validated with the tables given as ``text`` /
``features`` (the options of ``memo score``); a missing one is an error before any work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

from memo.data.inputs import StreamProvider
from memo.data.streams import check_table_options, open_side_inputs
from memo.errors import InputError
from memo.export.errors import ExportError
from memo.export.formats import FORMATS
from memo.export.onnx_export import ExportResult
from memo.export.samples import check_sample_folder
from memo.export.shapes import BatchProfile
from memo.formats import DEFAULT_PRECISION, PRECISIONS
from memo.models.bundle import Bundle
from memo.models.named import resolve_model

log = logging.getLogger(__name__)


@dataclass
class ExportOptions:
    model: str
    formats: list[str] = field(default_factory=lambda: ["onnx"])
    precision: str = DEFAULT_PRECISION
    opset: int | None = None  # ONNX only
    batch: str = "1:16:64"
    simplify: bool = False  # ONNX only
    workspace_gb: float | None = None  # TensorRT only
    force: bool = False  # TensorRT: rebuild even when the engine still matches
    videos: Path | None = None
    calibration: Path | None = None  # int8 only: videos (folder or manifest) to calibrate on
    calibration_method: str = "minmax"  # int8 only: minmax, entropy or percentile
    # the caption / feature inputs of a model that has them (for validation), as memo score takes them
    text: Path | None = None  # captions CSV
    id_column: str | None = None  # its id column
    text_column: list[str] | None = None  # its caption column(s)
    features: list[Path] | None = None  # folders of <id>.npy or matrices, concatenated in order
    feature_rows: Path | None = None  # row-order file of a features matrix


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def check_export_options(options: ExportOptions) -> BatchProfile:
    """Conflicting or unknown options fail here, with the fix in the message."""
    if not options.formats:
        raise ExportError(f"nothing to export: add {' and/or '.join(f.spec.flag for f in FORMATS.values())}")
    unknown = [f for f in options.formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format(s) {unknown} (choose from {', '.join(FORMATS)})")
    if options.precision not in PRECISIONS:
        raise ExportError(f"unknown precision {options.precision!r} (choose from {', '.join(PRECISIONS)})")
    defaults = {f.name: f.default for f in fields(ExportOptions)}
    for fmt in FORMATS.values():
        for option in fmt.options:
            if getattr(options, option) != defaults[option] and not any(
                option in FORMATS[name].options for name in options.formats
            ):
                users = [f.spec.flag for f in FORMATS.values() if option in f.options]
                raise ExportError(
                    f"{_flag(option)} only applies to {', '.join(u[2:] for u in users)} exports: "
                    f"add {' or '.join(users)}"
                )
    _check_int8_options(options)
    if options.opset is not None and not 13 <= options.opset <= 21:
        raise ExportError(f"--opset {options.opset}: memo exports opsets 13 to 21 (default 17)")
    _check_stream_options(options)
    try:
        check_sample_folder(options.videos)
    except InputError as exc:
        raise ExportError(str(exc)) from None
    return BatchProfile.parse(options.batch)


def _check_int8_options(options: ExportOptions) -> None:
    int8 = options.precision == "int8"
    if int8:
        refused = [FORMATS[f].spec.flag for f in options.formats if not FORMATS[f].spec.has("int8")]
        if refused:
            raise ExportError(f"--int8 is an ONNX Runtime build; {', '.join(refused)} has none (drop it)")
        if options.calibration is None:
            raise ExportError(
                "--int8 needs --calibration DIR or a CSV manifest of real videos to calibrate on"
            )
    elif options.calibration is not None or options.calibration_method != "minmax":
        raise ExportError("--calibration / --calibration-method only apply to --int8 exports: add --int8")


def _check_stream_options(options: ExportOptions) -> None:
    try:
        check_table_options(options)
    except InputError as exc:
        raise ExportError(str(exc)) from None


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
