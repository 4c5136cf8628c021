"""Typed exceptions of the export package."""

from __future__ import annotations

from memo.errors import MemoError


class ExportError(MemoError):
    """An export could not be produced, or the produced artifact failed its validation."""


class ValidationFailed(ExportError):
    """The exported artifact does not reproduce PyTorch within the tolerance."""


class UnsupportedOperator(ExportError):
    """The target runtime cannot handle an operator of the graph (the message names the node)."""

    def __init__(self, node: str, operator: str, detail: str) -> None:
        super().__init__(f"unsupported operator {operator or '?'} at node {node or '?'}: {detail}")
        self.node = node
        self.operator = operator
