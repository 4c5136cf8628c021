"""The table of export formats: drives CLI choices, option checks and the bench matrix.

Each format names the artifact it writes into the bundle (per precision), the runtime
backend that loads it, the precisions it can be built in and whether it needs a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from memo.export.errors import ExportError

PRECISIONS: tuple[str, ...] = ("fp32", "fp16")


@dataclass(frozen=True)
class ExportFormat:
    name: str
    backend: str  # runtime backend that loads the artifact
    artifacts: dict[str, str]  # precision -> file name inside the bundle
    needs_gpu: bool
    extra: str  # pip extra that provides the packages
    description: str

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.artifacts)

    def artifact(self, precision: str) -> str:
        if precision not in self.artifacts:
            raise ExportError(
                f"format {self.name!r} has no {precision!r} build (choose from {', '.join(self.artifacts)})"
            )
        return self.artifacts[precision]


FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat(
        name="onnx",
        backend="onnx",
        artifacts={"fp32": "model.onnx", "fp16": "model.fp16.onnx"},
        needs_gpu=False,
        extra="onnx",
        description="ONNX graph (dynamic batch), run by ONNX Runtime on CPU or GPU",
    ),
    "trt": ExportFormat(
        name="trt",
        backend="trt",
        artifacts={"fp32": "model.engine", "fp16": "model.fp16.engine"},
        needs_gpu=True,
        extra="trt",
        description="TensorRT engine built from the ONNX graph for this GPU and TensorRT version",
    ),
}

#: Backends the bench knows, in order; torch has no export artifact (it runs the weights).
BENCH_BACKENDS: tuple[str, ...] = ("torch", *(f.backend for f in FORMATS.values()))


def get_format(name: str) -> ExportFormat:
    if name not in FORMATS:
        raise ExportError(f"unknown export format {name!r} (choose from {', '.join(FORMATS)})")
    return FORMATS[name]


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ExportError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    return precision
