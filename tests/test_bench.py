"""memo bench: rows for every backend x precision x batch, statuses, parity, outputs."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest

pytest.importorskip("onnxruntime")

from memo.bench import COLUMNS, BenchOptions, run_bench
from memo.bench.output import write_csv
from memo.errors import MemoError
from memo.export import export_onnx
from tests.conftest import memo_command, subprocess_env
from tests.exporthelp import copy_bundle, spread_framecnn


@pytest.fixture(scope="module")
def bench_bundle(tmp_path_factory):
    bundle = spread_framecnn(tmp_path_factory.mktemp("bench") / "framecnn")
    export_onnx(bundle, sample_count=3)
    return bundle


@pytest.fixture(scope="module")
def report(bench_bundle, sample_dir):
    options = BenchOptions(
        model=str(bench_bundle.path),
        backends=["torch", "onnx", "trt"],
        precisions=["fp32", "fp16"],
        batch_sizes=[1, 5],
        videos=sample_dir,
        device="cpu",
        warmup=1,
        iterations=3,
        max_seconds=2,
        sample_count=6,
    )
    return run_bench(options)


def _row(report, backend, precision, batch):
    (row,) = [r for r in report.rows if (r.backend, r.precision, r.batch) == (backend, precision, batch)]
    return row


def test_one_row_per_backend_precision_batch(report):
    assert len(report.rows) == 3 * 2 * 2
    assert report.environment["cores"] and report.environment["cpu"]
    assert report.environment["versions"]["onnxruntime"]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("batch", [1, 5])
def test_cpu_rows_are_measured(report, backend, batch):
    row = _row(report, backend, "fp32", batch)
    assert row.status == "ok", row.reason
    assert 0 < row.latency_p50_ms <= row.latency_p90_ms <= row.latency_p99_ms
    assert row.frames_per_s > 0 and row.videos_per_s == pytest.approx(row.frames_per_s / 7, rel=1e-2)
    assert row.iterations >= 3 and row.model_mb is not None and row.peak_mem_kind == "rss delta"
    assert row.spearman >= 0.999 and row.max_abs_diff <= 1e-4 and row.parity_videos == 6
    assert row.device == ("cpu" if backend == "torch" else "CPUExecutionProvider")


def test_unavailable_rows_say_why(report, bench_bundle):
    for batch in (1, 5):
        trt = _row(report, "trt", "fp32", batch)
        assert trt.status == "unavailable" and trt.frames_per_s is None
        torch16 = _row(report, "torch", "fp16", batch)
        assert torch16.status == "unavailable" and "CUDA" in torch16.reason
        onnx16 = _row(report, "onnx", "fp16", batch)
        assert (
            onnx16.status == "unavailable"
            and f"memo export {bench_bundle.path} --onnx --fp16" in onnx16.reason
        )
    assert "TensorRT" in trt.reason or "tensorrt" in trt.reason
    assert trt.status_text.startswith("unavailable(")


def test_stale_artifact_fails_parity_and_broken_one_fails_load(bench_bundle, tmp_path):
    other = spread_framecnn(tmp_path / "other", seed=7)
    stale = copy_bundle(bench_bundle, tmp_path / "stale")
    export_onnx(other, sample_count=3)
    (stale.path / "model.onnx").write_bytes((other.path / "model.onnx").read_bytes())
    (stale.path / "model.fp16.onnx").write_bytes(b"not an onnx file")
    options = BenchOptions(
        model=str(stale.path),
        backends=["onnx"],
        precisions=["fp32", "fp16"],
        batch_sizes=[4],
        device="cpu",
        warmup=0,
        iterations=1,
        sample_count=4,
    )
    fp32, fp16 = run_bench(options).rows
    assert fp32.status == "failed" and "vs torch fp32" in fp32.reason and fp32.frames_per_s > 0
    assert fp16.status == "failed" and fp16.reason.startswith("load:")


def test_end_to_end_columns_with_videos(bench_bundle, sample_dir):
    options = BenchOptions(
        model=str(bench_bundle.path),
        backends=["onnx"],
        batch_sizes=[7],
        videos=sample_dir,
        device="cpu",
        warmup=0,
        iterations=2,
    )
    (row,) = run_bench(options).rows
    assert row.status == "ok" and row.parity_videos == 6
    assert row.decode_ms_per_video > 0 and row.infer_ms_per_video > 0 and row.e2e_videos_per_s > 0
    assert row.bottleneck in ("decode", "inference")
    assert row.e2e_videos_per_s == pytest.approx(
        1000 / (row.decode_ms_per_video + row.infer_ms_per_video), rel=0.02
    )


def test_csv_has_fixed_columns(report, tmp_path):
    write_csv(report, tmp_path / "bench.csv")
    with open(tmp_path / "bench.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and list(rows[0])[: len(COLUMNS)] == list(COLUMNS)


def test_bad_options_are_usage_errors():
    with pytest.raises(MemoError, match="unknown bench backend"):
        run_bench(BenchOptions(model="resmem", backends=["tensorflow"]))
    with pytest.raises(MemoError, match="batch sizes"):
        run_bench(BenchOptions(model="resmem", batch_sizes=[0]))


def test_cli_bench_json(bench_bundle, sample_dir, tmp_path):
    proc = subprocess.run(
        [
            *memo_command(),
            "bench",
            str(bench_bundle.path),
            "--backends",
            "torch,onnx,trt",
            "--batch-sizes",
            "3",
            "--videos",
            str(sample_dir),
            "--device",
            "cpu",
            "--iterations",
            "2",
            "--warmup",
            "0",
            "--json",
            "--csv",
            str(tmp_path / "b.csv"),
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["status"] for r in data["rows"]] == ["ok", "ok", "unavailable"]
    assert data["spearman_floor"] == {"fp32": 0.999, "fp16": 0.995, "int8": 0.995}
    assert (tmp_path / "b.csv").is_file()
    bad = subprocess.run(
        [*memo_command(), "bench", str(bench_bundle.path), "--batch-sizes", "a,b"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert bad.returncode == 2 and "expected integers" in bad.stderr


def test_every_backend_gets_the_same_load_options(bench_bundle):
    """--threads goes to every backend: torch and onnx honour it, trt does not take it (its row says so)."""
    options = BenchOptions(
        model=str(bench_bundle.path),
        backends=["torch", "onnx", "trt"],
        batch_sizes=[2],
        device="cpu",
        warmup=0,
        iterations=1,
        sample_count=3,
        threads=1,
    )
    torch_row, onnx_row, trt_row = run_bench(options).rows
    assert torch_row.status == onnx_row.status == "ok", (torch_row.reason, onnx_row.reason)
    assert (
        trt_row.status == "unavailable"
        and "backend 'trt' does not take the option(s) threads" in trt_row.reason
    )
