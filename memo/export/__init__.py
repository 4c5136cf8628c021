"""Export bundles to ONNX and TensorRT, validated against PyTorch (see :mod:`memo.export.formats`).

The names below are loaded on first use, so the torch-free option checks
(:mod:`memo.export.options`) can run before torch is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memo.export.errors import ExportError, UnsupportedOperator, ValidationFailed
    from memo.export.formats import FORMATS, PRECISIONS, ExportFormat, get_format
    from memo.export.onnx_export import ExportResult, export_onnx
    from memo.export.options import BatchProfile

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
_HOMES = {
    "ExportError": "memo.export.errors",
    "UnsupportedOperator": "memo.export.errors",
    "ValidationFailed": "memo.export.errors",
    "FORMATS": "memo.export.formats",
    "PRECISIONS": "memo.export.formats",
    "ExportFormat": "memo.export.formats",
    "get_format": "memo.export.formats",
    "ExportResult": "memo.export.onnx_export",
    "export_onnx": "memo.export.onnx_export",
    "BatchProfile": "memo.export.options",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'memo.export' has no attribute {name!r}")
