"""One call behind ``memo export``: check the options against the format table, run each export."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from memo.export.errors import ExportError
from memo.export.formats import FORMATS
from memo.export.onnx_export import ExportResult, export_onnx
from memo.export.shapes import BatchProfile
from memo.models.named import resolve_model

log = logging.getLogger(__name__)


@dataclass
class ExportOptions:
    model: str
    formats: list[str] = field(default_factory=lambda: ["onnx"])
    fp16: bool = False
    opset: int | None = None
    batch: str = "1:16:64"
    simplify: bool = False
    workspace_gb: float | None = None  # TensorRT only
    force: bool = False  # TensorRT: rebuild even when the engine still matches
    videos: Path | None = None


def check_export_options(options: ExportOptions) -> BatchProfile:
    """Conflicting or unknown options fail here, with the fix in the message."""
    if not options.formats:
        raise ExportError("nothing to export: add --onnx and/or --trt")
    unknown = [f for f in options.formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format(s) {unknown} (choose from {', '.join(FORMATS)})")
    if options.workspace_gb is not None and "trt" not in options.formats:
        raise ExportError("--workspace-gb only applies to TensorRT builds: add --trt")
    if options.force and "trt" not in options.formats:
        raise ExportError("--force only applies to TensorRT builds (ONNX exports always run): add --trt")
    if options.simplify and "onnx" not in options.formats:
        raise ExportError("--simplify applies to the ONNX export: add --onnx")
    if options.opset is not None and not 13 <= options.opset <= 21:
        raise ExportError(f"--opset {options.opset}: memo exports opsets 13 to 21 (default 17)")
    return BatchProfile.parse(options.batch)


def run_export(options: ExportOptions) -> list[ExportResult]:
    profile = check_export_options(options)
    bundle = resolve_model(options.model)
    results = []
    if "onnx" in options.formats:
        precision = "fp16" if options.fp16 else "fp32"
        results.append(
            export_onnx(
                bundle,
                opset=options.opset,
                batch=profile,
                simplify=options.simplify,
                precision=precision,
                videos=options.videos,
            )
        )
    if "trt" in options.formats:
        from memo.export.trt_export import export_trt

        results.append(
            export_trt(
                bundle,
                fp16=options.fp16,
                batch=profile,
                workspace_gb=options.workspace_gb or 4.0,
                force=options.force,
                videos=options.videos,
            )
        )
    return results
