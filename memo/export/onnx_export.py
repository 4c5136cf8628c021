"""``memo export --onnx``: bundle -> ``model.onnx`` (dynamic batch), validated against PyTorch.

The graph is traced from the bundle's module with named inputs/outputs taken from
``config.json`` and a symbolic batch axis. It is written to a scratch directory inside
the bundle, checked (names, then shapes, then values on real frames with ONNX Runtime
CPU) and only moved into place when the validation passes; ``export.json`` records the
result either way. Graphs over the 2 GB protobuf limit (or ``external_data_threshold``)
keep their weights in ``<artifact>.data`` beside the graph.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from memo.data.inputs import StreamProvider
from memo.errors import MissingDependency
from memo.export.errors import ExportError, ValidationFailed
from memo.export.fp16 import convert_fp16
from memo.export.options import BatchProfile
from memo.export.outside import outside_graph
from memo.export.parity import tolerance
from memo.export.record import write_record
from memo.export.samples import check_stream_inputs, prepare_samples, sample_inputs
from memo.export.shapes import fixed_frames, input_shapes
from memo.export.validate import Validation, compare_sessions
from memo.formats import check_precision, get_format
from memo.models.bundle import Bundle
from memo.runtime.artifacts import artifact_sha256
from memo.runtime.base import load_session
from memo.runtime.options import LoadOptions

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
PROTOBUF_LIMIT = 2**31 - 1  # bytes; a ModelProto cannot serialise past 2 GB


@dataclass
class ExportResult:
    format: str
    precision: str
    path: Path
    record: dict[str, Any]
    validation: Validation | None = None
    messages: list[str] = field(default_factory=list)


def require_onnx_stack(simplify: bool = False, fp16: bool = False) -> None:
    """Fail early, with the install hint, when a package of the ONNX export is missing."""
    needed = [("onnx", "onnx"), ("onnxruntime", "onnxruntime")]
    if simplify:
        needed.append(("onnxslim", "onnxslim"))
    if fp16:
        needed.append(("onnxconverter_common", "onnxconverter-common"))
    for module, package in needed:
        try:
            __import__(module)
        except ImportError:
            raise MissingDependency(package, "onnx", "memo export --onnx") from None


class _ByName(torch.nn.Module):
    """The bundle's module with positional inputs, passed on by name.

    The TorchScript tracer binds keyword inputs to the parameters ``forward`` names and drops
    the rest, so a module that takes ``**inputs`` (fusion-mlp: its input names come from its
    streams) lost them all. Positional inputs, in config.json's order, always reach it.
    """

    def __init__(self, module: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.names = names

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.module(**dict(zip(self.names, inputs, strict=True)))


def torch_to_onnx(bundle: Bundle, path: Path, opset: int, trace_batch: int = 2) -> None:
    """Trace the bundle's module to ONNX at ``path`` with a symbolic batch axis on every tensor."""
    spec = bundle.spec
    dummy = {name: torch.rand(trace_batch, *shape) for name, shape in input_shapes(spec).items()}
    module = _ByName(bundle.build_module(), list(dummy)).eval()
    names = [*dummy, *spec.output_names]
    # The TorchScript-based exporter (dynamo=False): no extra dependency, and it keeps the
    # input/output names exactly. It is deprecated upstream; torch.export's exporter
    # (dynamo=True, needs onnxscript) is the replacement when it goes away.
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(dummy.values()),
            str(path),
            input_names=list(dummy),
            output_names=list(spec.output_names),
            dynamic_axes={name: {0: "batch"} for name in names},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def check_graph(model: onnx.ModelProto, bundle: Bundle) -> None:
    """Names, then shapes, of the graph's inputs and outputs against the bundle config (fatal)."""
    spec = bundle.spec
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != [i.name for i in spec.inputs] or outputs != list(spec.output_names):
        raise ExportError(
            f"graph names do not match config.json: inputs {inputs} vs {[i.name for i in spec.inputs]}, "
            f"outputs {outputs} vs {list(spec.output_names)}"
        )
    expected = input_shapes(spec)
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        batch, rest = dims[0], tuple(d.dim_value for d in dims[1:])
        if not batch.dim_param or rest != expected[value.name]:
            got = ("?" if batch.dim_param else batch.dim_value, *rest)
            raise ExportError(f"input {value.name!r}: graph shape {got} != (batch, *{expected[value.name]})")
    for value in model.graph.output:
        dims = value.type.tensor_type.shape.dim
        if not dims or not dims[0].dim_param:
            raise ExportError(f"output {value.name!r}: batch axis is not dynamic")


def save_onnx(model: onnx.ModelProto, path: Path, external_data_threshold: int = PROTOBUF_LIMIT) -> bool:
    """Write ``model``; weights go to ``<name>.data`` when the graph exceeds the threshold."""
    import onnx

    external = model.ByteSize() > external_data_threshold
    if external:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{path.name}.data",
            size_threshold=1024,
        )
    else:
        onnx.save_model(model, str(path))
    onnx.checker.check_model(str(path))  # by path: works with external data
    return external


def export_onnx(
    bundle: Bundle,
    opset: int | None = None,
    batch: BatchProfile | str | tuple[int, int, int] = BatchProfile(),
    simplify: bool = False,
    precision: str = "fp32",
    videos: str | Path | None = None,
    sample_count: int = 8,
    external_data_threshold: int = PROTOBUF_LIMIT,
    providers: Mapping[str, StreamProvider] | None = None,
) -> ExportResult:
    """Export ``bundle`` to ONNX, validate it, and record the result in ``export.json``.

    ``providers`` supply the caption / feature inputs of a model that has them (keyed by
    stream, :func:`memo.data.streams.open_providers`): validation needs every input. A model
    that reads no video is validated on the first ``sample_count`` ids of those tables."""
    check_precision(precision)
    check_stream_inputs(bundle.spec, list(providers or {}), videos)
    require_onnx_stack(simplify=simplify, fp16=precision == "fp16")
    import onnx

    profile = BatchProfile.parse(batch)
    opset = opset or DEFAULT_OPSET
    artifact = get_format("onnx").artifact(precision)
    record: dict[str, Any] = {
        "format": "onnx",
        "artifact": artifact,
        "precision": precision,
        "opset": opset,
        "batch": profile.to_json(),
        "fixed_frames": fixed_frames(bundle.spec),  # frame axes the graph fixes (--frames is checked)
        "simplified": simplify,
        "outside_graph": outside_graph(bundle.spec),  # the caption encoders, feature files
        "versions": _versions(),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=bundle.path))
    try:
        started = time.perf_counter()
        traced = scratch / "traced.onnx"
        torch_to_onnx(bundle, traced, opset, trace_batch=min(max(profile.opt, 2), 4))
        model = onnx.load(str(traced))
        check_graph(model, bundle)
        record["nodes"] = len(model.graph.node)
        if simplify:
            model = _simplify(model, bundle)
            record["nodes_simplified"] = len(model.graph.node)
        if precision == "fp16":
            model = convert_fp16(model)
        target = scratch / artifact
        if simplify or precision == "fp16" or model.ByteSize() > external_data_threshold:
            record["external_data"] = save_onnx(model, target, external_data_threshold)
        else:  # the traced file is already the artifact: no second serialisation of the weights
            os.replace(traced, target)
            onnx.checker.check_model(str(target))
            record["external_data"] = False
        del model
        record["seconds_export"] = round(time.perf_counter() - started, 2)
        log.info("exported %s in %.1f s", artifact, record["seconds_export"])

        started = time.perf_counter()
        validation = validate_onnx(bundle, target, precision, videos, sample_count, providers)
        record["seconds_validate"] = round(time.perf_counter() - started, 2)
        record["validation"] = validation.to_json()
        if not validation.passed:  # recorded beside, never over, the record of an installed artifact
            write_record(bundle, f"failed:{artifact}", record)
            raise ValidationFailed(
                f"{artifact} does not match PyTorch: {'; '.join(validation.problems)} (not installed; "
                f"details in {bundle.artifact('export.json')})"
            )
        record["sha256"] = artifact_sha256(target)
        record["bytes"] = sum(p.stat().st_size for p in scratch.glob(f"{artifact}*"))
        final = _install(scratch, bundle.path, artifact)
        write_record(bundle, artifact, record)
        return ExportResult("onnx", precision, final, record, validation)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def validate_onnx(
    bundle: Bundle,
    path: Path,
    precision: str,
    videos: str | Path | None = None,
    sample_count: int = 8,
    providers: Mapping[str, StreamProvider] | None = None,
) -> Validation:
    """PyTorch (fp32, CPU) vs ONNX Runtime (CPU) on real frames (or, for a model that reads no
    video, on ids of its caption / feature tables)."""
    inputs = sample_inputs(bundle.spec, videos, sample_count, providers)
    samples = prepare_samples(bundle.spec, inputs, providers)
    reference = load_session(bundle, "torch", "cpu")
    candidate = load_session(bundle, "onnx", "cpu", LoadOptions(precision=precision, path=path))
    atol = tolerance(precision, bundle.spec.export_atol)
    return compare_sessions(reference, candidate, bundle.spec, samples, precision, atol)


def _simplify(model: onnx.ModelProto, bundle: Bundle) -> onnx.ModelProto:
    import onnxslim

    before = len(model.graph.node)
    slim = onnxslim.slim(model)
    if slim is None:
        raise ExportError("onnxslim returned no model")
    check_graph(slim, bundle)
    log.info("simplified with onnxslim: %d -> %d nodes", before, len(slim.graph.node))
    return slim


def _install(scratch: Path, bundle_dir: Path, artifact: str) -> Path:
    """Move the validated artifact (and its external data, if any) into the bundle."""
    data = bundle_dir / f"{artifact}.data"
    if not (scratch / f"{artifact}.data").exists():
        with contextlib.suppress(FileNotFoundError):
            data.unlink()  # a stale weights file of an earlier, larger export
    else:
        os.replace(scratch / f"{artifact}.data", data)
    os.replace(scratch / artifact, bundle_dir / artifact)
    return bundle_dir / artifact


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
