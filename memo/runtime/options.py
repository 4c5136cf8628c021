"""Typed load options shared by every backend, and the check that a backend understands them.

One frozen dataclass instead of ``**options``: each backend declares the fields it
implements (``Backend.options``), and a field set to anything but its default for a backend
that does not implement it is an :class:`UnsupportedOption` error naming the backend and
the option, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from memo.errors import MemoError
from memo.formats import DEFAULT_PRECISION, check_precision


class UnsupportedOption(MemoError):
    """A load option was given to a backend that does not implement it."""


@dataclass(frozen=True)
class LoadOptions:
    """How to load a bundle; only fields some backend really implements.

    * ``precision``: torch (``fp16``: the module in half precision, CUDA only), onnx and trt
      (which artifact of the format table is loaded).
    * ``threads``: torch and onnx, intra-op threads (default: the library's, all cores).
    * ``path``: onnx, run this graph file instead of the bundle's artifact (export
      validation runs a graph before it is installed into the bundle).
    * ``tensorrt_ep``: onnx on CUDA, put ONNX Runtime's TensorRT execution provider first
      (its engine and timing caches go to ``<bundle>/ort-trt-cache``). NOT RUN in this
      repository's development (no GPU): written against ONNX Runtime's documented API.
    """

    precision: str = DEFAULT_PRECISION
    threads: int | None = None
    path: Path | None = None
    tensorrt_ep: bool = False

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.threads is not None and self.threads < 1:
            raise MemoError(f"threads must be at least 1, got {self.threads}")

    def given(self) -> list[str]:
        """Names of the fields set to something other than their default."""
        return [f.name for f in fields(self) if getattr(self, f.name) != f.default]


DEFAULT_OPTIONS = LoadOptions()


def check_load_options(backend: str, understood: frozenset[str], options: LoadOptions) -> None:
    """Raise :class:`UnsupportedOption` for each non-default field ``backend`` does not implement."""
    unknown = [name for name in options.given() if name not in understood]
    if unknown:
        takes = ", ".join(sorted(understood)) or "none"
        raise UnsupportedOption(
            f"backend {backend!r} does not take the option(s) {', '.join(unknown)} (it takes: {takes})"
        )
