"""memo bench feeds each model its own inputs: two-input models, feature inputs, the decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from memo.bench import BenchOptions, run_bench
from memo.data.decoders.dali import dali_version
from memo.data.synthetic import KINDS, write_video
from memo.errors import MemoError
from memo.export import export_onnx
from memo.export.samples import prepare_samples
from memo.models.bundle import save_bundle
from memo.models.fusion import fusion_spec
from memo.models.registry import create_model
from memo.runtime.base import load_session
from tests.modelhelp import build, spread_heads
from tests.test_models_vmemnet import tiny_spec

FAST = {"device": "cpu", "warmup": 0, "iterations": 2, "max_seconds": 1.0, "threads": 1}


@pytest.fixture(scope="module")
def vmemnet_bundle(tmp_path_factory, sample_dir):
    """A tiny VMemNet (keyframes + clip inputs) with heads spread so scores differ, exported."""
    spec = tiny_spec("clip")
    module = build(spec)
    spread_heads(module, ["semantic.head.3", "spatial.core.regnet4"])
    bundle = save_bundle(tmp_path_factory.mktemp("bench_inputs") / "vmemnet", spec, module.state_dict())
    export_onnx(bundle, batch="1:2:4", videos=sample_dir, sample_count=4)
    return bundle


def test_bench_runs_a_keyframes_plus_clip_model(vmemnet_bundle, sample_dir) -> None:
    assert vmemnet_bundle.spec.streams == ("keyframes", "clip")
    samples = prepare_samples(vmemnet_bundle.spec, sorted(str(p) for p in Path(sample_dir).iterdir())[:4])
    session = load_session(vmemnet_bundle, "torch", "cpu")
    scores = [float(session.run(s.arrays)["score"][0]) for s in samples]
    assert max(scores) - min(scores) > 1e-3  # parity below is on scores that differ

    options = BenchOptions(model=str(vmemnet_bundle.path), backends=("torch", "onnx"), batch_sizes=(1, 2),
                           sample_count=4, videos=sample_dir, decoder="pyav", **FAST)  # fmt: skip
    report = run_bench(options)
    assert [(r.backend, r.batch, r.status) for r in report.rows] == [
        ("torch", 1, "ok"), ("torch", 2, "ok"), ("onnx", 1, "ok"), ("onnx", 2, "ok")
    ]  # fmt: skip
    assert report.decoder == "pyav"
    for row in report.rows:
        assert row.spearman is not None and row.spearman >= 0.999
        assert row.max_abs_diff is not None and row.max_abs_diff <= 1e-4
        assert row.e2e_videos_per_s and row.videos_per_s and row.videos_per_s == row.frames_per_s


def test_a_model_with_a_caption_input_needs_text(tmp_path) -> None:
    spec = fusion_spec()
    bundle = save_bundle(tmp_path / "fusion", spec, create_model("fusion-mlp", **spec.arch_args).state_dict())
    with pytest.raises(MemoError, match=r"needs --text \(input 'text'\) to benchmark"):
        run_bench(BenchOptions(model=str(bundle.path), backends=("torch",), batch_sizes=(1,), **FAST))


def test_unknown_decoder_is_refused_before_any_work(framecnn_bundle) -> None:
    with pytest.raises(MemoError, match="unknown decoder"):
        run_bench(BenchOptions(model=str(framecnn_bundle.path), backends=("torch",), batch_sizes=(1,),
                               decoder="nvdec", **FAST))  # fmt: skip


@pytest.mark.skipif(dali_version() is None, reason="NVIDIA DALI is not installed (pip install 'memo[dali]')")
def test_bench_with_dali_on_the_cpu(framecnn_bundle, tmp_path) -> None:
    folder = tmp_path / "webm"
    folder.mkdir()
    for i, kind in enumerate(["vp8", "vp9", "vp8"]):
        write_video(folder / f"w{i}{KINDS[kind][0]}", kind, frames=20, fps=10, width=96, height=72, seed=i)
    options = BenchOptions(model=str(framecnn_bundle.path), backends=("torch",), batch_sizes=(2,),
                           sample_count=3, videos=folder, decoder="dali", **FAST)  # fmt: skip
    report = run_bench(options)
    assert report.decoder == "dali"
    assert [r.status for r in report.rows] == ["ok"]
    assert report.rows[0].e2e_videos_per_s and report.rows[0].decode_ms_per_video


def test_cli_bench_takes_features_for_a_feature_model(sample_dir, tmp_path) -> None:
    import json
    import subprocess

    import numpy as np

    from memo.data.features import open_features, video_key
    from tests.conftest import memo_command, subprocess_env

    spec = fusion_spec(streams={"feat": {"stream": "features", "dim": 4}})
    bundle = save_bundle(tmp_path / "fusion", spec, create_model("fusion-mlp", **spec.arch_args).state_dict())
    features = tmp_path / "features"
    features.mkdir()
    for i, path in enumerate(sorted(Path(sample_dir).iterdir())):
        np.save(
            features / f"{video_key(path.name)}.npy", np.random.default_rng(i).random(4).astype(np.float32)
        )
    args = [str(bundle.path), "--backends", "torch", "--batch-sizes", "1,2"]  # no video: the table's ids
    args += ["--device", "cpu", "--iterations", "2", "--max-seconds", "1", "--threads", "1", "--json"]
    done = subprocess.run([*memo_command(), "bench", *args, "--features", str(features)],
                          capture_output=True, text=True, env=subprocess_env(), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [r["status"] for r in report["rows"]] == ["ok", "ok"] and report["decoder"] == "none"
    assert report["videos"] == list(open_features(features).index)[:8]  # ids, as memo export validates
    refused = subprocess.run([*memo_command(), "bench", *args], capture_output=True, text=True,
                             env=subprocess_env(), timeout=300)  # fmt: skip
    assert refused.returncode == 2 and "--features" in refused.stderr
