"""The format table of :mod:`memo.formats`, extended with how each format is exported.

Each row of ``memo.formats.FORMATS`` (names, artifacts, precisions, GPU need: pure data the
runtime reads too) gets here the step that builds it and the :class:`ExportOptions` fields
only that format uses, so the option checks of ``memo export`` come from the table as
well. A format without an export step here fails at import, not at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memo.data.inputs import StreamProvider
from memo.export.errors import ExportError
from memo.export.onnx_export import ExportResult, export_onnx
from memo.export.options import FORMAT_OPTIONS, BatchProfile
from memo.formats import FORMATS as TABLE
from memo.formats import PRECISIONS, Format
from memo.models.bundle import Bundle

if TYPE_CHECKING:
    from memo.export.runner import ExportOptions

Providers = Mapping[str, StreamProvider]  # the caption / feature inputs validation needs
ExportStep = Callable[[Bundle, "ExportOptions", BatchProfile, Providers], ExportResult]


@dataclass(frozen=True)
class ExportFormat:
    spec: Format  # the row of memo.formats.FORMATS
    step: ExportStep
    options: tuple[str, ...]  # ExportOptions fields only this format uses (checked against the selection)

    @property
    def name(self) -> str:
        return self.spec.name

    def artifact(self, precision: str) -> str:
        return self.spec.artifact(precision)


def _onnx(
    bundle: Bundle, options: ExportOptions, profile: BatchProfile, providers: Providers
) -> ExportResult:
    if options.precision == "int8":
        from memo.export.int8_export import export_int8

        return export_int8(  # type: ignore[no-any-return]
            bundle, options.calibration, options.calibration_method, options.videos, providers
        )
    return export_onnx(
        bundle,
        opset=options.opset,
        batch=profile,
        simplify=options.simplify,
        precision=options.precision,
        videos=options.videos,
        providers=providers,
    )


def _trt(bundle: Bundle, options: ExportOptions, profile: BatchProfile, providers: Providers) -> ExportResult:
    from memo.export.trt_export import export_trt

    return export_trt(
        bundle,
        precision=options.precision,
        batch=profile,
        workspace_gb=options.workspace_gb or 4.0,
        force=options.force,
        videos=options.videos,
        providers=providers,
    )


_STEPS: dict[str, ExportStep] = {"onnx": _onnx, "trt": _trt}
if set(_STEPS) != set(TABLE) or set(FORMAT_OPTIONS) != set(TABLE):
    raise ImportError(
        f"memo.formats lists {sorted(TABLE)} but export steps exist for {sorted(_STEPS)} "
        f"and format options for {sorted(FORMAT_OPTIONS)}"
    )

FORMATS: dict[str, ExportFormat] = {
    name: ExportFormat(TABLE[name], _STEPS[name], FORMAT_OPTIONS[name]) for name in TABLE
}


def get_format(name: str) -> ExportFormat:
    if name not in FORMATS:
        raise ExportError(f"unknown export format {name!r} (choose from {', '.join(FORMATS)})")
    return FORMATS[name]


__all__ = ["FORMATS", "PRECISIONS", "ExportFormat", "ExportStep", "get_format"]
