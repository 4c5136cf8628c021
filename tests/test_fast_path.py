"""What `memo score` runs without options: auto backend, first-use export, thread default, sidecar."""

from __future__ import annotations

import json
import os

import pytest

from memo.runtime.threads import default_threads
from memo.score import ScoreOptions, score_videos
from memo.score.fast_path import LOCK, ensure_auto_export, why_no_auto_export
from memo.score.settings import read_sidecar
from tests.exporthelp import spread_framecnn


@pytest.mark.parametrize(
    ("cores", "load", "threads"),
    [(2, 0.0, 2), (2, 0.6, 1), (2, 1.4, 1), (2, 7.0, 1), (16, 3.2, 13), (16, 40.0, 1), (1, 0.0, 1)],
)
def test_default_threads_are_the_idle_cores(cores: int, load: float, threads: int) -> None:
    assert default_threads(cores, load) == threads


def test_auto_uses_torch_without_an_export_then_onnx_and_records_each_run(tmp_path, sample_dir) -> None:
    pytest.importorskip("onnxruntime")
    from memo.export import export_onnx

    bundle = spread_framecnn(tmp_path / "b")
    out = tmp_path / "s.csv"
    notes: list[str] = []
    options = ScoreOptions(
        inputs=[str(sample_dir)], output=out, model=str(bundle.path), device="cpu", workers=1
    )
    first = score_videos(options, on_note=notes.append)
    assert first.backend == "torch" and len(notes) == 1
    assert "no model.onnx" in notes[0] and f"memo export {bundle.path} --onnx" in notes[0], (
        notes
    )  # the reason and the fix
    export_onnx(bundle, batch="1:4:16", videos=sample_dir, sample_count=3)
    again = score_videos(
        ScoreOptions(
            inputs=[str(sample_dir)],
            output=out,
            model=str(bundle.path),
            device="cpu",
            resume=True,
            retry_failed=True,
            workers=1,
            threads=1,
        ),
        on_note=notes.append,
    )
    assert again.backend == "onnx" and again.choice["threads"] == 1 and again.choice["batch_size"] == 16
    record = read_sidecar(out)
    assert record is not None and record["backends"] == ["torch", "onnx"]  # a backend change resumes
    assert [r["backend"] for r in record["runs"]] == ["torch", "onnx"]
    assert all(r["threads"] >= 1 and r["reason"] for r in record["runs"])


def test_first_use_export_is_built_once_validated_and_said_once(tmp_path, sample_dir, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MEMO_HOME", str(tmp_path / "home"))
    bundle = spread_framecnn(tmp_path / "named")
    assert why_no_auto_export(bundle, named=False, precision="fp32") is not None  # user bundles: never
    assert why_no_auto_export(bundle, named=True, precision="int8") is not None  # int8 needs calibration
    said: list[str] = []
    assert ensure_auto_export(bundle, named=True, notify=said.append) is None
    assert (bundle.path / "model.onnx").is_file() and len(said) == 1 and str(bundle.path) in said[0]
    records = json.loads((bundle.path / "export.json").read_text())["artifacts"]
    assert records["model.onnx"]["validation"]["passed"]
    assert ensure_auto_export(bundle, named=True, notify=said.append) is None and len(said) == 1
    assert not (bundle.path / LOCK).exists() and not list(bundle.path.glob(".export-*"))


def test_a_live_lock_defers_the_build_and_a_dead_one_is_taken_over(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    bundle = spread_framecnn(tmp_path / "locked")
    (bundle.path / LOCK).write_text(str(os.getpid()))
    assert "another memo process" in (ensure_auto_export(bundle, named=True) or "")
    assert not (bundle.path / "model.onnx").exists()
    (bundle.path / LOCK).write_text("999999999")  # no such process (above any pid_max)
    from memo.score.fast_path import _build_lock

    with _build_lock(bundle.path) as held:
        assert held
    assert not (bundle.path / LOCK).exists()


def test_cli_says_the_choice_once_and_not_with_quiet(tmp_path, sample_dir) -> None:
    from typer.testing import CliRunner

    from memo.cli import app

    bundle = spread_framecnn(tmp_path / "cli")
    args = ["score", str(sample_dir / "v0_h264.mp4"), "-m", str(bundle.path), "--device", "cpu", "-w", "1"]
    shown = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "a.csv")], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if line.startswith("running ")]
    assert len(lines) == 1 and "torch" in lines[0] and "thread" in lines[0] and "batch 16" in lines[0], lines
    quiet = CliRunner().invoke(app, [*args, "-q", "-o", str(tmp_path / "b.csv")], env={"COLUMNS": "200"})
    assert quiet.exit_code == 0 and "running " not in quiet.output


def test_bench_gives_memo_score_thread_default_only_to_backends_that_take_threads() -> None:
    from memo.bench.runner import BenchOptions, load_options

    options = BenchOptions(default_threads=3)
    assert load_options(options, "fp32", "onnx").threads == 3
    assert load_options(options, "fp32", "torch").threads == 3
    assert (
        load_options(options, "fp32", "trt").threads is None
    )  # trt takes no threads: not an unavailable row
    assert load_options(BenchOptions(threads=1, default_threads=3), "fp32", "onnx").threads == 1
