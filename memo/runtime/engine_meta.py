"""TensorRT engine metadata: what an engine was built for, and whether it still fits.

An engine is tied to one GPU architecture, one TensorRT version and the graph it was
built from; its metadata file (``<engine>.json``, written by ``memo export --trt``) says
what it was built for. The exporter uses :func:`rebuild_reason` to decide whether to
rebuild; the runtime uses :func:`load_problem` to refuse a stale engine with the export
command that rebuilds it (the runtime never builds). Nothing here imports TensorRT, so all
of it is unit-tested on machines without a GPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memo.errors import BackendUnavailable, BundleError
from memo.formats import export_command, get_format
from memo.models.bundle import Bundle
from memo.runtime.artifacts import artifact_sha256


@dataclass(frozen=True)
class EngineTarget:
    """What an engine must match to be reused."""

    tensorrt: str
    gpu: str
    compute_capability: str
    precision: str  # requested: fp32 | fp16
    batch: dict[str, int]  # the optimisation profile over dim 0: min / opt / max
    onnx_sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def engine_paths(bundle: Bundle, precision: str) -> tuple[Path, Path]:
    """(engine, its metadata file) of ``bundle`` at ``precision``, named by the format table."""
    engine = bundle.artifact(get_format("trt").artifact(precision))
    return engine, engine.with_name(f"{engine.name}.json")


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def current_gpu(device: str = "cuda") -> tuple[str, str]:
    """(name, compute capability) of the GPU ``device`` names; BackendUnavailable without one."""
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("no CUDA GPU is visible: a TensorRT engine is built on the GPU that runs it")
    index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


def rebuild_reason(meta: dict[str, Any] | None, target: EngineTarget, engine_exists: bool) -> str | None:
    """Why the engine must be (re)built for ``target``; ``None`` when the existing one fits."""
    if not engine_exists:
        return "no engine yet"
    if meta is None:
        return "the engine has no readable metadata"
    built = meta.get("target", {})
    checks = (
        ("tensorrt", "built with TensorRT {old}, this is TensorRT {new}"),
        ("compute_capability", "built for compute capability {old}, this GPU is {new}"),
        ("gpu", "built on {old}, this GPU is {new}"),
        ("precision", "built as {old}, {new} was asked for"),
        ("batch", "built for batch profile {old}, {new} was asked for"),
        ("onnx_sha256", "model.onnx changed since the engine was built ({old:.12} -> {new:.12})"),
    )
    wanted = target.to_json()
    for key, message in checks:
        old, new = built.get(key), wanted[key]
        if old != new:
            if key == "batch":
                old, new = _profile_text(old), _profile_text(new)
            return message.format(old=old if old is not None else "?", new=new)
    return None


def _profile_text(profile: Any) -> str:
    if isinstance(profile, dict) and {"min", "opt", "max"} <= set(profile):
        return f"{profile['min']}:{profile['opt']}:{profile['max']}"
    return str(profile)


def load_problem(
    meta: dict[str, Any], bundle: Bundle, precision: str, tensorrt: str, gpu: tuple[str, str]
) -> str | None:
    """Why the engine described by ``meta`` must not be loaded here; ``None`` when it fits.

    The machine (TensorRT version, GPU, compute capability) and the precision must match;
    the graph must be the one in the bundle now (when the bundle still has it: an engine
    shipped without its ONNX source is checked on the rest). The batch profile is the
    engine's own: the runtime splits and pads batches to it.
    """
    built = meta.get("target", {})
    source = bundle.artifact(str(meta.get("source_onnx") or get_format("onnx").artifact("fp32")))
    onnx_sha = artifact_sha256(source) if source.is_file() else str(built.get("onnx_sha256"))
    here = EngineTarget(tensorrt, gpu[0], gpu[1], precision, built.get("batch", {}), onnx_sha)
    return rebuild_reason(meta, here, engine_exists=True)


def check_engine(bundle: Bundle, precision: str, tensorrt: str, gpu: tuple[str, str]) -> Path:
    """The engine file of ``bundle`` at ``precision`` if it fits this machine, else a BundleError.

    The error names the command that rebuilds it (``memo export <bundle> --trt``, which
    rebuilds a stale engine; ``--force`` rebuilds even a matching one): the runtime never builds.
    """
    engine, meta_file = engine_paths(bundle, precision)
    fix = export_command(bundle.path, get_format("trt"), precision)
    if not engine.is_file():
        raise BundleError(f"{bundle.path}: no {engine.name}; build it first: {fix}")
    meta = read_meta(meta_file)
    problem = (
        f"no readable metadata ({meta_file.name})"
        if meta is None
        else load_problem(meta, bundle, precision, tensorrt, gpu)
    )
    if problem:
        raise BundleError(f"{engine}: {problem}; rebuild it: {fix}")
    return engine
