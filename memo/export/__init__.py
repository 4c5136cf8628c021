"""Export bundles to ONNX and TensorRT, validated against PyTorch (see :mod:`memo.export.formats`)."""

from memo.export.errors import ExportError, UnsupportedOperator, ValidationFailed
from memo.export.formats import FORMATS, PRECISIONS, ExportFormat, get_format
from memo.export.onnx_export import ExportResult, export_onnx
from memo.export.shapes import BatchProfile

__all__ = [
    "FORMATS",
    "PRECISIONS",
    "BatchProfile",
    "ExportError",
    "ExportFormat",
    "ExportResult",
    "UnsupportedOperator",
    "ValidationFailed",
    "export_onnx",
    "get_format",
]
