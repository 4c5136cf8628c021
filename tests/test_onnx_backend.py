"""The onnx runtime backend: providers read back, CPU session options, memo score --backend onnx, auto."""

from __future__ import annotations

import csv
import subprocess

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from memo.errors import BackendUnavailable, BundleError, MemoError
from memo.export import export_onnx
from memo.runtime.auto_backend import choose_backend
from memo.runtime.base import available_backends, load_session
from memo.runtime.onnx_backend import (
    check_providers,
    cpu_session_options,
    open_onnx_session,
    providers_for,
)
from memo.runtime.options import LoadOptions, UnsupportedOption
from tests.conftest import memo_command, subprocess_env
from tests.exporthelp import copy_bundle


@pytest.fixture(scope="module")
def onnx_bundle(framecnn_bundle, tmp_path_factory):
    bundle = copy_bundle(framecnn_bundle, tmp_path_factory.mktemp("onnxb") / "framecnn")
    export_onnx(bundle, sample_count=3)
    return bundle


def test_session_reports_the_provider_it_runs_on(onnx_bundle):
    session = load_session(onnx_bundle, "onnx", "cpu")
    assert session.device == "CPUExecutionProvider"
    assert session.session.get_providers() == ["CPUExecutionProvider"]
    out = session.run({"frames": np.zeros((3, 3, 32, 32), np.float32)})
    assert set(out) == {"score"} and out["score"].shape == (3,)


def test_cpu_session_options_are_tuned():
    import onnxruntime as ort

    options = cpu_session_options(threads=2)
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.enable_mem_pattern and options.enable_cpu_mem_arena


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider':UserWarning")
def test_asking_for_cuda_and_getting_cpu_is_an_error(onnx_bundle):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA; the fallback cannot be provoked")
    # ONNX Runtime itself falls back to the CPU provider here; memo reads that back and refuses.
    with pytest.raises(BackendUnavailable, match="asked ONNX Runtime for CUDAExecutionProvider"):
        open_onnx_session(onnx_bundle.path / "model.onnx", "cuda:0")
    assert "CUDAExecutionProvider" in available_backends("cuda")["onnx"]
    assert providers_for("cuda:1", tensorrt=True)[0][0] == "TensorrtExecutionProvider"
    with pytest.raises(BackendUnavailable):
        check_providers(providers_for("cuda"), ["CPUExecutionProvider"])
    check_providers(providers_for("cpu"), ["CPUExecutionProvider"])
    with pytest.raises(BackendUnavailable, match="TensorRT provider runs on a CUDA GPU"):
        providers_for("cpu", tensorrt=True)


def test_missing_model_onnx_names_the_export_command(framecnn_bundle, sample_dir, tmp_path):
    bundle = copy_bundle(framecnn_bundle, tmp_path / "plain")
    proc = subprocess.run(
        [
            *memo_command(),
            "score",
            str(sample_dir),
            "-m",
            str(bundle.path),
            "--backend",
            "onnx",
            "--device",
            "cpu",
            "-o",
            str(tmp_path / "s.csv"),
            "-q",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    message = " ".join(proc.stderr.split())  # rich wraps long lines
    assert "no model.onnx" in message and f"memo export {bundle.path} --onnx" in message


def _score(bundle, videos, backend, out):
    proc = subprocess.run(
        [
            *memo_command(),
            "score",
            str(videos),
            "-m",
            str(bundle.path),
            "--backend",
            backend,
            "--device",
            "cpu",
            "-o",
            str(out),
            "--json",
            "-b",
            "5",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as handle:
        return {row["path"]: float(row["score"]) for row in csv.DictReader(handle)}, proc.stdout


def test_memo_score_backend_onnx_matches_torch(onnx_bundle, sample_dir, tmp_path):
    torch_scores, _ = _score(onnx_bundle, sample_dir, "torch", tmp_path / "t.csv")
    onnx_scores, summary = _score(onnx_bundle, sample_dir, "onnx", tmp_path / "o.csv")
    assert set(onnx_scores) == set(torch_scores) and len(onnx_scores) == 6
    for path, value in torch_scores.items():
        assert onnx_scores[path] == pytest.approx(value, abs=1e-5)
    assert '"device": "CPUExecutionProvider"' in summary
    _, auto = _score(onnx_bundle, sample_dir, "auto", tmp_path / "a.csv")  # says onnx once, not onnx/onnx/...
    assert '"backend": "onnx"' in auto and '"device": "CPUExecutionProvider"' in auto


def test_auto_prefers_onnx_on_cpu_when_exported(onnx_bundle, framecnn_bundle, tmp_path):
    assert choose_backend(onnx_bundle, "cpu")[0] == "onnx"
    plain = copy_bundle(framecnn_bundle, tmp_path / "plain")
    name, reason = choose_backend(plain, "cpu")
    assert name == "torch" and "no model.onnx" in reason
    session = load_session(onnx_bundle, "auto", "cpu")
    assert session.backend == "auto" and session.device == "onnx/CPUExecutionProvider"
    x = np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32)
    want = load_session(onnx_bundle, "torch", "cpu").run({"frames": x})["score"]
    np.testing.assert_allclose(session.run({"frames": x})["score"], want, atol=1e-5)


def test_an_option_a_backend_does_not_implement_is_an_error(onnx_bundle):
    with pytest.raises(UnsupportedOption, match=r"backend 'torch' does not take the option\(s\) tensorrt_ep"):
        load_session(onnx_bundle, "torch", "cpu", LoadOptions(tensorrt_ep=True))
    # refused before anything else is checked: TensorRT is not even installed here
    with pytest.raises(UnsupportedOption, match=r"backend 'trt' does not take the option\(s\) threads"):
        load_session(onnx_bundle, "trt", "cuda", LoadOptions(threads=2))
    with pytest.raises(MemoError, match="unknown precision 'int4'"):
        LoadOptions(precision="int4")
    with pytest.raises(BackendUnavailable, match="int8 runs on ONNX Runtime only"):
        load_session(onnx_bundle, "torch", "cpu", LoadOptions(precision="int8"))
    with pytest.raises(TypeError, match="cuda_graph"):  # an option no backend implements does not exist
        LoadOptions(cuda_graph=True)
    with pytest.raises(BackendUnavailable, match="TensorRT provider runs on a CUDA GPU"):
        load_session(onnx_bundle, "onnx", "cpu", LoadOptions(tensorrt_ep=True))
    with pytest.raises(BackendUnavailable, match="fp16 PyTorch runs on CUDA only"):
        load_session(onnx_bundle, "torch", "cpu", LoadOptions(precision="fp16"))


def test_threads_are_honoured_by_torch_and_onnx(onnx_bundle):
    import torch

    before = torch.get_num_threads()
    x = np.random.default_rng(2).random((2, 3, 32, 32), dtype=np.float32)
    one = load_session(onnx_bundle, "torch", "cpu", LoadOptions(threads=1))
    np.testing.assert_allclose(
        one.run({"frames": x})["score"], load_session(onnx_bundle, "torch", "cpu").run({"frames": x})["score"]
    )
    assert torch.get_num_threads() == before, "the process-wide setting is restored after a call"
    session = load_session(onnx_bundle, "onnx", "cpu", LoadOptions(threads=1))
    assert session.session.get_session_options().intra_op_num_threads == 1


def test_missing_fp16_graph_names_the_export_command(onnx_bundle):
    with pytest.raises(
        BundleError, match=r"no model.fp16.onnx; export it first: memo export .* --onnx --fp16"
    ):
        load_session(onnx_bundle, "onnx", "cpu", LoadOptions(precision="fp16"))
    name, reason = choose_backend(onnx_bundle, "cpu", LoadOptions(precision="fp16"))
    assert name == "torch" and "onnx: no model.fp16.onnx" in reason
