"""The table of model formats: the one place a format is described.

Pure data (nothing heavy is imported), at the bottom of the package so that every layer
can read it: the runtime resolves artifact file names and "export it first" hints from it,
:mod:`memo.export.formats` extends each row with the function that builds it, and the
CLI's ``memo export`` flags (``--onnx``, ``--trt``, ``--fp16``) and ``memo bench``'s
backend matrix are generated from it. Adding a format is one row here plus its export
step and runtime backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from memo.errors import MemoError

#: Precisions, the default first; every other one is a ``memo export`` flag (``--fp16``, ``--int8``).
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
DEFAULT_PRECISION = PRECISIONS[0]
#: What each non-default precision flag means (``memo export --help``).
PRECISION_HELP: dict[str, str] = {
    "fp16": "Mixed precision (inputs/outputs and sensitive operators stay fp32).",
    "int8": "Static int8 (ONNX only, for CPUs): calibrated on --calibration videos, validated on others.",
}
#: The backend that runs a bundle's own weights (no exported artifact).
WEIGHTS_BACKEND = "torch"


@dataclass(frozen=True)
class Format:
    """One exportable format: what it writes into a bundle and which backend loads it."""

    name: str  # also the ``memo export --<name>`` flag
    backend: str  # runtime backend that loads the artifact
    artifacts: dict[str, str]  # precision -> file name inside the bundle
    needs_gpu: bool
    extra: str  # pip extra that provides the packages
    description: str

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.artifacts)

    def has(self, precision: str) -> bool:
        return precision in self.artifacts

    def artifact(self, precision: str) -> str:
        if precision not in self.artifacts:
            raise MemoError(
                f"format {self.name!r} has no {precision!r} build (choose from {', '.join(self.artifacts)})"
            )
        return self.artifacts[precision]

    def flag_help(self) -> str:
        """The ``memo export --<name>`` help, written from the row."""
        others = [f"{a} with --{p}" for p, a in self.artifacts.items() if p != DEFAULT_PRECISION]
        text = f"{self.description}. Writes {self.artifacts[DEFAULT_PRECISION]}"
        text += f" ({', '.join(others)})." if others else "."
        return text + (" Needs a CUDA GPU." if self.needs_gpu else "")


FORMATS: dict[str, Format] = {
    "onnx": Format(
        name="onnx",
        backend="onnx",
        artifacts={"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"},
        needs_gpu=False,
        extra="onnx",
        description="ONNX graph (dynamic batch), run by ONNX Runtime on CPU or GPU",
    ),
    "trt": Format(
        name="trt",
        backend="trt",
        artifacts={"fp32": "model.engine", "fp16": "model.fp16.engine"},
        needs_gpu=True,
        extra="trt",
        description="TensorRT engine built from the ONNX graph for this GPU and TensorRT version",
    ),
}


def bench_backends(formats: dict[str, Format] | None = None) -> tuple[str, ...]:
    """The backends ``memo bench`` knows, in order: the weights first, then one per format."""
    table = FORMATS if formats is None else formats
    return (WEIGHTS_BACKEND, *(f.backend for f in table.values()))


BENCH_BACKENDS: tuple[str, ...] = bench_backends()


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise MemoError(f"unknown format {name!r} (choose from {', '.join(FORMATS)})")
    return FORMATS[name]


def format_for_backend(backend: str) -> Format | None:
    """The format whose artifact ``backend`` loads; ``None`` for the weights backend and ``auto``."""
    for fmt in FORMATS.values():
        if fmt.backend == backend:
            return fmt
    return None


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise MemoError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    return precision


def export_command(bundle: object, fmt: Format, precision: str = DEFAULT_PRECISION) -> str:
    """The ``memo export`` command line that writes ``fmt`` at ``precision`` for ``bundle``."""
    flags = fmt.flag + ("" if precision == DEFAULT_PRECISION else f" --{precision}")
    return f"memo export {bundle} {flags}"
