"""``memo export --onnx --int8``: a static int8 graph, calibrated and validated on different videos.

The int8 graph is built from the bundle's validated fp32 ``model.onnx`` (exported first
when missing) by :mod:`memo.export.int8_quant`, calibrated on frames of the videos the user
names (``--calibration DIR`` or a CSV / Parquet manifest with a ``path`` column), and
validated against PyTorch fp32 on sample videos (``--videos``, default as ``memo export``)
**minus every calibration video**: per-video Spearman >= 0.995 and max abs diff of the
per-video scores <= 0.01 (:mod:`memo.export.parity`). Before validation, the systematic
shift of the int8 outputs is measured on the calibration frames and corrected in the graph
(:mod:`memo.export.int8_correct`), so the validation judges that correction out of sample
too. A failed validation is an error and
is recorded in ``export.json`` as ``failed:model.int8.onnx``; nothing is installed.

Refused before any work, with the reason: models that read no video frames and models
without convolutions (int8 quantises convolutions only: their arithmetic would stay fp32
and only gain quantise / dequantise steps).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from memo.data.discover import discover_videos
from memo.data.inputs import PreparedVideo, StreamProvider
from memo.data.streams import needs_frames
from memo.errors import MemoError
from memo.export.errors import ExportError, ValidationFailed
from memo.export.int8_correct import correct_outputs
from memo.export.int8_quant import (
    DEFAULT_METHOD,
    FUSED_ACTIVATIONS,
    METHODS,
    excluded_nodes,
    quantise,
)
from memo.export.parity import tolerance
from memo.export.record import write_record
from memo.export.samples import prepare_samples, sample_videos
from memo.export.validate import Validation, compare_sessions
from memo.formats import get_format
from memo.models.bundle import Bundle
from memo.runtime.artifacts import artifact_sha256
from memo.runtime.base import load_session
from memo.runtime.options import LoadOptions

log = logging.getLogger(__name__)

#: Frames the activation ranges are measured on (spread over the calibration videos).
CALIBRATION_FRAMES = 48
MAX_CALIBRATION_VIDEOS = 16
MIN_VALIDATION_VIDEOS = 3


def calibration_videos(source: Path) -> list[str]:
    """The calibration videos: a folder (searched recursively) or a manifest's ``path`` column."""
    if source.is_dir():
        paths = discover_videos([str(source)])
    elif source.suffix.lower() in (".csv", ".parquet", ".pq"):
        from memo.score.sources import read_manifest

        paths = read_manifest(source, "path")
    else:
        raise ExportError(f"--calibration {source}: give a folder of videos or a CSV / Parquet manifest")
    if not paths:
        raise ExportError(f"--calibration {source}: no videos found")
    return sorted(paths)[:MAX_CALIBRATION_VIDEOS]


def check_int8(bundle: Bundle, calibration: Path | None, method: str) -> None:
    """Refuse what int8 cannot do for this bundle before any work."""
    spec = bundle.spec
    if calibration is None:
        raise ExportError("--int8 needs --calibration DIR (or a manifest): real videos to measure ranges on")
    if method not in METHODS:
        raise ExportError(f"--calibration-method {method!r}: choose from {', '.join(METHODS)}")
    if not needs_frames(spec):
        raise ExportError(
            f"int8: model {spec.name!r} reads no video frames; int8 quantises convolutions over frames "
            "(use fp32 or fp16)"
        )


def _frames_per_video(bundle: Bundle, videos: int) -> Bundle:
    """For a frame model, more keyframes per calibration video so ~CALIBRATION_FRAMES are seen."""
    spec = bundle.spec
    if spec.unit != "frame" or "num_frames" in spec.arch_args:
        return bundle
    want = min(32, max(1, math.ceil(CALIBRATION_FRAMES / max(videos, 1))))
    inputs = tuple(
        replace(i, num_frames=max(i.num_frames, want)) if i.stream == "keyframes" else i for i in spec.inputs
    )
    return Bundle(bundle.path, spec.with_(inputs=inputs))


def _same(path: str) -> str:
    return os.path.realpath(path)


def validation_videos(videos: str | Path | None, calibration: Sequence[str]) -> list[str]:
    """Sample videos for validation with every calibration video taken out."""
    used = {_same(p) for p in calibration}
    paths = [p for p in sample_videos(videos, count=64) if _same(p) not in used][:8]
    if len(paths) < MIN_VALIDATION_VIDEOS:
        raise ExportError(
            f"int8 validation needs at least {MIN_VALIDATION_VIDEOS} videos not used for calibration "
            f"(found {len(paths)}): give --videos DIR with others"
        )
    return paths


def export_int8(
    bundle: Bundle,
    calibration: Path | None,
    method: str = DEFAULT_METHOD,
    videos: str | Path | None = None,
    providers: Mapping[str, StreamProvider] | None = None,
) -> Any:
    """Quantise, validate and install ``model.int8.onnx``; the :class:`ExportResult`."""
    from memo.export.onnx_export import ExportResult, export_onnx

    check_int8(bundle, calibration, method)
    assert calibration is not None
    import onnx

    fp32 = bundle.artifact(get_format("onnx").artifact("fp32"))
    if not fp32.is_file():
        log.info("int8 is built from the validated fp32 graph: exporting %s first", fp32.name)
        export_onnx(bundle, videos=videos, providers=providers)
    graph = onnx.load(str(fp32), load_external_data=False)
    if not any(n.op_type == "Conv" for n in graph.graph.node):
        raise ExportError(
            f"int8: model {bundle.spec.name!r} ({bundle.spec.architecture}) has no convolution; int8 "
            "quantises convolutions only and would not run faster (use fp32 or fp16)"
        )
    exclude = excluded_nodes(graph, bundle.spec.architecture)
    del graph
    cal_paths = calibration_videos(calibration)
    val_paths = validation_videos(videos, cal_paths)
    artifact = get_format("onnx").artifact("int8")
    record: dict[str, Any] = {
        "format": "onnx",
        "artifact": artifact,
        "precision": "int8",
        "source": fp32.name,
        "quantisation": {
            "format": "QDQ",
            "weights": "int8 per channel",
            "activations": "uint8",
            "fused_activations": list(FUSED_ACTIVATIONS),
            "method": method,
            "excluded_nodes": exclude,
        },
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    scratch = Path(tempfile.mkdtemp(prefix=".export-int8-", dir=bundle.path))
    try:
        started = time.perf_counter()
        batches = _calibration_batches(bundle, cal_paths, providers)
        record["calibration"] = {"videos": cal_paths, "frames": sum(b.rows for b in batches)}
        target = scratch / artifact
        arrays = [b.arrays for b in batches]
        quantise(fp32, target, arrays, method=method, exclude=exclude)
        record["quantisation"]["output_correction"] = correct_outputs(
            fp32, target, arrays, bundle.spec.output_names
        )
        record["seconds_export"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        validation = _validate(bundle, target, val_paths, providers)
        record["seconds_validate"] = round(time.perf_counter() - started, 2)
        record["validation"] = validation.to_json()
        if not validation.passed:
            write_record(bundle, f"failed:{artifact}", record)
            raise ValidationFailed(
                f"{artifact} does not match PyTorch fp32 on videos not used for calibration: "
                f"{'; '.join(validation.problems)} (not installed; details in {bundle.artifact('export.json')})"
            )
        record["sha256"] = artifact_sha256(target)
        record["bytes"] = target.stat().st_size
        os.replace(target, bundle.artifact(artifact))
        write_record(bundle, artifact, record)
        return ExportResult("onnx", "int8", bundle.artifact(artifact), record, validation)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _calibration_batches(
    bundle: Bundle, paths: Sequence[str], providers: Mapping[str, StreamProvider] | None
) -> list[PreparedVideo]:
    sampled = _frames_per_video(bundle, len(paths))
    try:
        return prepare_samples(sampled.spec, paths, providers)
    except MemoError as exc:
        raise ExportError(f"--calibration: {exc}") from None


def _validate(
    bundle: Bundle, path: Path, paths: Sequence[str], providers: Mapping[str, StreamProvider] | None
) -> Validation:
    samples = prepare_samples(bundle.spec, paths, providers)
    reference = load_session(bundle, "torch", "cpu")
    candidate = load_session(bundle, "onnx", "cpu", LoadOptions(precision="int8", path=path))
    atol = tolerance("int8", bundle.spec.export_atol)
    return compare_sessions(reference, candidate, bundle.spec, samples, "int8", atol)
