"""``memo export --trt``: ONNX -> TensorRT engine for this GPU, validated against PyTorch.

NOT RUN IN THIS REPOSITORY'S DEVELOPMENT: no GPU or TensorRT was available. The code
follows the documented TensorRT 10 and 11 Python APIs (Builder / OnnxParser /
IBuilderConfig / EngineInspector); the decisions around it (profile, metadata, rebuild,
precision read-back) live in :mod:`memo.export.trt_meta` and :mod:`memo.runtime.engine_meta`
and are unit-tested.

* One optimisation profile over the batch axis (MIN:OPT:MAX) for every input.
* A timing cache (``trt-timing.cache`` in the bundle) is loaded and saved on each build.
* TensorRT 10: FP16 via ``BuilderFlag.FP16`` on the fp32 graph. TensorRT 11 networks are
  strongly typed only, so FP16 comes from ``model.fp16.onnx`` (the graph converted to
  mixed precision by :mod:`memo.export.fp16`, validated on ONNX Runtime first).
* The precision recorded is read back from the built engine with the engine inspector
  (profiling verbosity DETAILED), never assumed from the request.
* ``<engine>.json`` records TensorRT version, GPU, compute capability, precision built,
  profile and the source ONNX sha256; an engine that no longer matches is rebuilt here
  (the runtime refuses it and names this command; ``--force`` rebuilds a matching one).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memo.data.inputs import StreamProvider
from memo.errors import MissingDependency
from memo.export.errors import ExportError, UnsupportedOperator, ValidationFailed
from memo.export.onnx_export import ExportResult, export_onnx
from memo.export.options import BatchProfile
from memo.export.outside import outside_graph
from memo.export.parity import tolerance
from memo.export.record import write_record
from memo.export.samples import check_stream_inputs, prepare_samples, sample_inputs
from memo.export.trt_meta import (
    layer_precisions,
    precision_satisfied,
    summarise_precision,
    uses_strong_typing,
)
from memo.export.validate import compare_sessions
from memo.formats import check_precision, get_format
from memo.fsio import atomic_write_bytes, atomic_write_json
from memo.models.bundle import Bundle
from memo.runtime.artifacts import artifact_sha256
from memo.runtime.base import load_session
from memo.runtime.engine_meta import EngineTarget, current_gpu, engine_paths, read_meta, rebuild_reason
from memo.runtime.options import LoadOptions

log = logging.getLogger(__name__)

TIMING_CACHE = "trt-timing.cache"


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError:
        raise MissingDependency(
            "tensorrt", "trt", "building or running TensorRT engines (CUDA machines only)"
        ) from None
    return tensorrt


def engine_target(bundle: Bundle, precision: str, batch: BatchProfile, onnx_file: Path) -> EngineTarget:
    trt = import_tensorrt()
    gpu, capability = current_gpu()
    return EngineTarget(
        trt.__version__, gpu, capability, precision, batch.to_json(), artifact_sha256(onnx_file)
    )


def source_onnx(
    bundle: Bundle,
    precision: str,
    tensorrt_version: str,
    batch: BatchProfile,
    providers: Mapping[str, StreamProvider] | None = None,
) -> Path:
    """The graph TensorRT parses: model.onnx, or model.fp16.onnx for fp16 on TensorRT 11+."""
    graph = "fp16" if precision == "fp16" and uses_strong_typing(tensorrt_version) else "fp32"
    path = bundle.artifact(get_format("onnx").artifact(graph))
    if not path.is_file():
        log.info("%s is missing: exporting it first", path.name)
        export_onnx(bundle, batch=batch, precision=graph, providers=providers)
    return path


def export_trt(
    bundle: Bundle,
    precision: str = "fp32",
    batch: BatchProfile | str | tuple[int, int, int] = BatchProfile(),
    workspace_gb: float = 4.0,
    force: bool = False,
    videos: str | Path | None = None,
    providers: Mapping[str, StreamProvider] | None = None,
) -> ExportResult:
    """Build (or reuse, when it still matches) the TensorRT engine of ``bundle``.

    A stale engine (other GPU, TensorRT version, precision, profile or graph) is rebuilt
    and the reason logged; ``force`` rebuilds a matching one too. ``providers`` supply the
    caption / feature inputs for validation, as in :func:`memo.export.onnx_export.export_onnx`.
    """
    check_precision(precision)
    check_stream_inputs(bundle.spec, list(providers or {}), videos)
    trt = import_tensorrt()
    current_gpu()
    if workspace_gb <= 0:
        raise ExportError("--workspace-gb must be positive")
    profile = BatchProfile.parse(batch)
    onnx_file = source_onnx(bundle, precision, trt.__version__, profile, providers)
    engine_file, meta_file = engine_paths(bundle, precision)
    target = engine_target(bundle, precision, profile, onnx_file)
    reason = rebuild_reason(read_meta(meta_file), target, engine_file.is_file())
    if reason is None and not force:
        meta = read_meta(meta_file) or {}
        return ExportResult("trt", precision, engine_file, meta, None, [f"{engine_file.name} is up to date"])
    messages = [f"building {engine_file.name}: {reason or 'forced'}"]
    log.warning(messages[0])

    started = time.perf_counter()
    engine_bytes, inspector_json = build_engine(trt, bundle, onnx_file, precision, profile, workspace_gb)
    build_seconds = time.perf_counter() - started
    counts = layer_precisions(inspector_json)
    built = summarise_precision(counts)
    if not precision_satisfied(precision, counts):
        messages.append(f"asked for {precision} but the engine runs {built}")
        log.warning(messages[-1])
    atomic_write_bytes(engine_file, engine_bytes)
    meta = {
        "target": target.to_json(),
        "precision_built": built,
        "layer_precisions": dict(counts),
        "source_onnx": onnx_file.name,
        "strongly_typed": uses_strong_typing(trt.__version__),
        "workspace_gb": workspace_gb,
        "seconds_build": round(build_seconds, 1),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "outside_graph": outside_graph(bundle.spec),  # the caption encoders, feature files
    }
    atomic_write_json(meta_file, meta)  # the runtime refuses an engine whose metadata does not match
    samples = prepare_samples(bundle.spec, sample_inputs(bundle.spec, videos, 8, providers), providers)
    reference = load_session(bundle, "torch", "cuda")
    candidate = load_session(bundle, "trt", "cuda", LoadOptions(precision=precision))
    atol = tolerance(precision, bundle.spec.export_atol)
    validation = compare_sessions(reference, candidate, bundle.spec, samples, precision, atol)
    meta["validation"] = validation.to_json()
    if not validation.passed:
        write_record(bundle, f"failed:{engine_file.name}", meta)
        engine_file.unlink(missing_ok=True)
        meta_file.unlink(missing_ok=True)
        raise ValidationFailed(f"{engine_file.name} does not match PyTorch: {'; '.join(validation.problems)}")
    write_record(bundle, engine_file.name, meta)
    atomic_write_json(meta_file, meta)
    return ExportResult("trt", precision, engine_file, meta, validation, messages)


def build_engine(
    trt: Any, bundle: Bundle, onnx_file: Path, precision: str, profile: BatchProfile, workspace_gb: float
) -> tuple[bytes, str]:
    """Parse, configure and build; returns (serialised engine, inspector JSON)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strong = uses_strong_typing(trt.__version__)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strong else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        raise parser_error(trt, parser, onnx_file)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # so the inspector can report precisions
    if precision == "fp16" and not strong:
        config.set_flag(trt.BuilderFlag.FP16)  # TensorRT 10: weak typing, the builder may pick fp16 kernels
    optimisation = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        rest = tuple(tensor.shape)[1:]
        optimisation.set_shape(tensor.name, (profile.min, *rest), (profile.opt, *rest), (profile.max, *rest))
    config.add_optimization_profile(optimisation)

    cache_file = bundle.artifact(TIMING_CACHE)
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(
            f"TensorRT could not build an engine from {onnx_file.name} (see the TensorRT log above)"
        )
    atomic_write_bytes(cache_file, bytes(config.get_timing_cache().serialize()))

    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    inspector = engine.create_engine_inspector()
    return bytes(serialized), inspector.get_engine_information(trt.LayerInformationFormat.JSON)


def parser_error(trt: Any, parser: Any, onnx_file: Path) -> ExportError:
    """The first parser error as a typed exception naming the node."""
    errors = [parser.get_error(i) for i in range(parser.num_errors)]
    if not errors:
        return ExportError(f"TensorRT could not parse {onnx_file.name}")
    first = errors[0]
    code = str(first.code())
    node_name = first.node_name() if hasattr(first, "node_name") else str(first.node())
    operator = first.node_operator() if hasattr(first, "node_operator") else ""
    if "UNSUPPORTED_NODE" in code:
        return UnsupportedOperator(node_name, operator, first.desc())
    return ExportError(
        f"TensorRT could not parse {onnx_file.name}: {first.desc()} (node {node_name}, {code})"
    )
