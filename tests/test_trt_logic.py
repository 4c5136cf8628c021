"""Everything around TensorRT that runs without it: profiles, metadata, rebuilds, precision read-back.

The TensorRT build/run code itself (memo/export/trt_export.py, memo/runtime/trt_backend.py)
has NOT been run in this repository: no GPU, and TensorRT is not installable here.
"""

from __future__ import annotations

import json

import pytest

from memo.errors import BundleError, MemoError, MissingDependency
from memo.export.errors import ExportError
from memo.export.formats import FORMATS as EXPORT_FORMATS
from memo.export.options import BatchProfile
from memo.export.trt_meta import (
    layer_precisions,
    precision_satisfied,
    summarise_precision,
    tensorrt_major,
    uses_strong_typing,
)
from memo.formats import BENCH_BACKENDS, FORMATS, get_format
from memo.runtime.artifacts import artifact_sha256
from memo.runtime.engine_meta import EngineTarget, check_engine, engine_paths, rebuild_reason
from memo.runtime.trt_backend import split_batches
from tests.exporthelp import copy_bundle

TARGET = EngineTarget(
    "10.13.2", "NVIDIA H100 80GB HBM3", "9.0", "fp16", {"min": 1, "opt": 16, "max": 64}, "ab" * 32
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1:16:64", (1, 16, 64)), (" 2:2:8 ", (2, 2, 8)), ("8", (8, 8, 8)), ((1, 4, 4), (1, 4, 4))],
)
def test_profile_parsing(text, expected):
    profile = BatchProfile.parse(text)
    assert (profile.min, profile.opt, profile.max) == expected
    assert BatchProfile.parse(profile.text) == profile


@pytest.mark.parametrize("text", ["0:1:2", "4:2:8", "1:2", "1:x:3", "1:2:3:4", ""])
def test_bad_profiles_are_refused(text):
    with pytest.raises(ExportError):
        BatchProfile.parse(text)


def test_rebuild_decisions():
    meta = {"target": TARGET.to_json()}
    assert rebuild_reason(meta, TARGET, engine_exists=True) is None
    assert rebuild_reason(meta, TARGET, engine_exists=False) == "no engine yet"
    assert "no readable metadata" in rebuild_reason(None, TARGET, True)
    changes = {
        "tensorrt": ("11.0.0", "TensorRT 10.13.2, this is TensorRT 11.0.0"),
        "compute_capability": ("8.9", "compute capability 9.0, this GPU is 8.9"),
        "precision": ("fp32", "built as fp16, fp32 was asked for"),
        "batch": ({"min": 1, "opt": 8, "max": 32}, "1:16:64, 1:8:32 was asked for"),
        "onnx_sha256": ("cd" * 32, "model.onnx changed"),
    }
    for key, (value, message) in changes.items():
        changed = EngineTarget(**{**TARGET.to_json(), key: value})
        assert message in rebuild_reason(meta, changed, True), key


def test_precision_read_back_from_tensorrt_10_inspector_json():
    dump = {
        "Layers": [
            {
                "Name": "conv1",
                "Outputs": [{"Name": "a", "Format/Datatype": "Channel major FP16 format where C % 8 == 0"}],
            },
            {"Name": "conv2", "Outputs": [{"Name": "b", "Format/Datatype": "Row major linear FP16 format"}]},
            {"Name": "sigmoid", "Outputs": [{"Name": "score", "Format/Datatype": "Row major linear FP32"}]},
            {"Name": "shape", "Outputs": [{"Name": "s", "Format/Datatype": "Row major linear Int32"}]},
        ],
        "Bindings": ["frames", "score"],
    }
    counts = layer_precisions(json.dumps(dump))
    assert counts == {"fp16": 2, "fp32": 1}
    assert summarise_precision(counts) == "mixed (fp16 2, fp32 1)"
    assert precision_satisfied("fp16", counts) and not precision_satisfied("fp32", counts)


def test_precision_read_back_from_tensorrt_11_inspector_json():
    dump = {
        "Layers": [
            {"Name": "conv1", "Outputs": [{"Name": "a", "DataType": "Float", "Format": "kLINEAR"}]},
            {"Name": "fc", "Outputs": [{"Name": "b", "DataType": "Float", "Format": "kLINEAR"}]},
        ],
        "I/O Tensors": [{"Name": "frames", "IOMode": "Input", "DataType": "Float"}],
    }
    counts = layer_precisions(json.dumps(dump))
    assert summarise_precision(counts) == "fp32"
    assert not precision_satisfied("fp16", counts), "an fp16 request that built fp32 must be reported"
    names_only = json.dumps({"Layers": ["conv1", "fc"], "Bindings": ["frames", "score"]})
    assert summarise_precision(layer_precisions(names_only)) == "unknown"


def test_strong_typing_by_version():
    assert tensorrt_major("10.13.2.6") == 10
    assert not uses_strong_typing("10.13.2")
    assert uses_strong_typing("11.0.0") and uses_strong_typing("12.1")
    with pytest.raises(ValueError):
        tensorrt_major("unknown")


@pytest.mark.parametrize(
    ("rows", "lo", "hi", "chunks"),
    [
        (10, 2, 4, [(0, 4, 4), (4, 8, 4), (8, 10, 2)]),
        (9, 2, 4, [(0, 4, 4), (4, 8, 4), (8, 9, 2)]),  # last partial batch padded up to MIN
        (3, 1, 64, [(0, 3, 3)]),
    ],
)
def test_batches_split_to_the_profile(rows, lo, hi, chunks):
    assert split_batches(rows, lo, hi) == chunks


def test_formats_table_drives_the_matrix():
    assert set(FORMATS) == {"onnx", "trt"} == set(EXPORT_FORMATS)
    assert all(EXPORT_FORMATS[name].spec is FORMATS[name] for name in FORMATS)
    assert BENCH_BACKENDS == ("torch", "onnx", "trt")
    assert get_format("trt").artifact("fp16") == "model.fp16.engine" and get_format("trt").needs_gpu
    assert get_format("onnx").artifact("int8") == "model.int8.onnx"
    with pytest.raises(MemoError, match="no 'int8' build"):
        get_format("trt").artifact("int8")


GPU = ("NVIDIA H100 80GB HBM3", "9.0")


def _engine_bundle(framecnn_bundle, tmp_path, precision="fp32", changes=None):
    """A bundle holding an engine file and the metadata memo export --trt writes beside it.

    The engine bytes are not a real engine: check_engine decides before TensorRT reads them.
    """
    bundle = copy_bundle(framecnn_bundle, tmp_path / "b")
    (bundle.path / "model.onnx").write_bytes(b"graph v1")
    engine, meta_file = engine_paths(bundle, precision)
    engine.write_bytes(b"engine")
    target = EngineTarget(
        "10.13.2",
        *GPU,
        precision,
        {"min": 1, "opt": 16, "max": 64},
        artifact_sha256(bundle.path / "model.onnx"),
    )
    meta_file.write_text(
        json.dumps({"target": {**target.to_json(), **(changes or {})}, "source_onnx": "model.onnx"})
    )
    return bundle, engine


def test_matching_engine_is_accepted(framecnn_bundle, tmp_path):
    bundle, engine = _engine_bundle(framecnn_bundle, tmp_path)
    assert check_engine(bundle, "fp32", "10.13.2", GPU) == engine


@pytest.mark.parametrize(
    ("change", "machine", "message"),
    [
        ({}, ("11.0.0", GPU), "built with TensorRT 10.13.2, this is TensorRT 11.0.0"),
        ({}, ("10.13.2", ("NVIDIA L4", "8.9")), "compute capability 9.0, this GPU is 8.9"),
        ({"onnx_sha256": "cd" * 32}, ("10.13.2", GPU), "model.onnx changed"),
        ({"precision": "fp16"}, ("10.13.2", GPU), "built as fp16, fp32 was asked for"),
    ],
)
def test_stale_engine_is_an_error_naming_the_export_command(
    framecnn_bundle, tmp_path, change, machine, message
):
    bundle, engine = _engine_bundle(framecnn_bundle, tmp_path, changes=change)
    before = engine.read_bytes()
    with pytest.raises(BundleError) as caught:
        check_engine(bundle, "fp32", *machine)
    text = str(caught.value)
    assert message in text and text.endswith(f"rebuild it: memo export {bundle.path} --trt")
    assert engine.read_bytes() == before, "the runtime must never rebuild"


def test_missing_engine_or_metadata_names_the_export_command(framecnn_bundle, tmp_path):
    bundle, engine = _engine_bundle(framecnn_bundle, tmp_path, precision="fp16")
    with pytest.raises(BundleError, match=r"no model.engine; build it first: memo export .* --trt$"):
        check_engine(bundle, "fp32", "10.13.2", GPU)
    engine.with_name("model.fp16.engine.json").unlink()
    with pytest.raises(BundleError, match=r"no readable metadata .*memo export .* --trt --fp16$"):
        check_engine(bundle, "fp16", "10.13.2", GPU)


def test_engine_shipped_without_its_onnx_is_checked_on_the_rest(framecnn_bundle, tmp_path):
    bundle, engine = _engine_bundle(framecnn_bundle, tmp_path)
    (bundle.path / "model.onnx").unlink()
    assert check_engine(bundle, "fp32", "10.13.2", GPU) == engine


def test_without_tensorrt_the_errors_say_how_to_install(framecnn_bundle):
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    from memo.export.trt_export import export_trt
    from memo.runtime.base import available_backends

    with pytest.raises(MissingDependency, match=r"pip install 'memo\[trt\]'"):
        export_trt(framecnn_bundle)
    assert "TensorRT is not installed" in available_backends("cuda")["trt"]
