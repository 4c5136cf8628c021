"""Kill `memo score` half-way (SIGKILL, Ctrl-C), then --resume: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from memo.data.synthetic import write_video
from memo.score import ScoreOptions, score_videos
from memo.score.writers import read_results

from .conftest import memo_command, subprocess_env

VIDEOS = 12


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("library")
    for i in range(VIDEOS):
        write_video(folder / f"clip_{i:02d}.mp4", "h264", frames=120, fps=20, width=256, height=192, seed=i)
    (folder / "zz_broken.mp4").write_bytes(b"not a video at all")
    return folder


@pytest.fixture(scope="module")
def reference(library: Path, framecnn_bundle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """An uninterrupted run with the same options, in this process."""
    out = tmp_path_factory.mktemp("reference") / "clean.jsonl"
    options = ScoreOptions(
        inputs=[str(library)], output=out, model=str(framecnn_bundle.path), batch_size=1, workers=1
    )
    score_videos(options)
    return {r["path"]: r for r in read_results(out)}


def _journal(out: Path) -> Path:
    return out.with_name(out.name + ".journal.jsonl")


def _complete_lines(path: Path) -> int:
    """Rows finished so far (data lines ending in a newline; CSV's header excluded)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    lines = data.count(b"\n")
    return lines - 1 if path.suffix == ".csv" and lines else lines


def _start(library: Path, out: Path, bundle: Path, *extra: str) -> subprocess.Popen[str]:
    args = [
        "score",
        str(library),
        "-o",
        str(out),
        "--model",
        str(bundle),
        "--batch-size",
        "1",
        "--workers",
        "1",
    ]
    return subprocess.Popen(
        [*memo_command(), *args, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(COLUMNS="200"),
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    """The child takes Ctrl-C as a terminal user's ``memo score`` does, even when this test runs
    under a shell that started it in the background (which ignores SIGINT, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_rows(proc: subprocess.Popen[str], watch: Path, rows: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while _complete_lines(watch) < rows:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"memo score ended (status {proc.returncode}) before {rows} rows: {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {rows} rows in {watch} after {timeout} s")
        time.sleep(0.005)


def _check_row(row: dict, reference: dict[str, dict]) -> None:
    expected = reference[row["path"]]
    assert row["status"] == expected["status"]
    assert (row["error"] or "") == (expected["error"] or "")
    if expected["status"] == "ok":
        assert float(row["score"]) == pytest.approx(expected["score"], abs=2e-6)
        assert int(row["frames"]) == expected["frames"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_sigkill_then_resume(suffix: str, library: Path, framecnn_bundle, reference, tmp_path: Path) -> None:
    out = tmp_path / f"scores{suffix}"
    watch = _journal(out) if suffix == ".parquet" else out
    proc = _start(library, out, framecnn_bundle.path, "--quiet")
    _wait_for_rows(proc, watch, 3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # What the kill left is valid, and every row in it is whole and right.
    if suffix == ".parquet":
        finished = [json.loads(line) for line in watch.read_text(encoding="utf-8").splitlines(keepends=True)
                    if line.endswith("\n")]  # fmt: skip
        if out.exists():  # rewritten at least once before the kill: a readable file
            in_parquet = read_results(out)
            assert {r["path"] for r in in_parquet} <= {r["path"] for r in finished}
    else:
        finished = read_results(out)
    assert 3 <= len(finished) < VIDEOS + 1, "the kill came too late to test anything"
    assert len({r["path"] for r in finished}) == len(finished)
    for row in finished:
        _check_row(row, reference)

    if suffix == ".jsonl":  # through the command line once, through the library for the others
        resumed = subprocess.run(
            [*memo_command(), "score", str(library), "-o", str(out), "--model", str(framecnn_bundle.path),
             "--batch-size", "1", "--workers", "1", "--resume", "--json"],
            capture_output=True, text=True, env=subprocess_env(), timeout=120, check=False,
        )  # fmt: skip
        assert resumed.returncode == 1, resumed.stderr  # zz_broken.mp4 fails, in either run
        summary = json.loads(resumed.stdout)
        assert summary["total"] == VIDEOS + 1  # the summary covers the whole file
        skipped, done = summary["skipped"], summary["this_run"]["scored"] + summary["this_run"]["failed"]
    else:
        options = ScoreOptions(
            inputs=[str(library)],
            output=out,
            model=str(framecnn_bundle.path),
            batch_size=1,
            workers=1,
            resume=True,
        )
        result = score_videos(options)
        skipped, done = result.skipped, result.new_scored + result.new_failed
    kept = sum(r["status"] == "ok" for r in finished)  # failed rows are retried by default
    assert skipped == kept
    assert done == VIDEOS + 1 - kept

    rows = read_results(out)
    paths = [r["path"] for r in rows]
    assert sorted(paths) == sorted(reference)  # every video exactly once
    for row in rows:
        _check_row(row, reference)
    assert not _journal(out).exists()


def test_ctrl_c_exits_130_and_keeps_finished_rows(
    library: Path, framecnn_bundle, reference, tmp_path
) -> None:
    out = tmp_path / "scores.parquet"
    proc = _start(library, out, framecnn_bundle.path)
    _wait_for_rows(proc, _journal(out), 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "--resume" in err
    rows = read_results(out)  # the Parquet file was written on the way out
    assert 2 <= len(rows) <= VIDEOS + 1
    assert len({r["path"] for r in rows}) == len(rows)
    for row in rows:
        _check_row(row, reference)
    assert not _journal(out).exists()
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def test_resume_matches_relative_and_absolute_paths(
    library: Path, framecnn_bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "scores.csv"
    bundle = str(framecnn_bundle.path)
    monkeypatch.chdir(library.parent)
    first = ScoreOptions(inputs=[f"./{library.name}/clip_00.mp4"], output=out, model=bundle, workers=1)
    assert score_videos(first).scored == 1
    again = ScoreOptions(inputs=[str(library / "clip_00.mp4")], output=out, model=bundle, resume=True)
    summary = score_videos(again)
    assert (summary.skipped, summary.new_scored, summary.scored) == (1, 0, 1)
    assert len(read_results(out)) == 1


def test_resume_refuses_a_file_scored_by_another_model(
    library: Path, framecnn_bundle, tmp_path: Path
) -> None:
    from memo.errors import OutputError
    from memo.models.bundle import save_bundle

    spec = framecnn_bundle.spec.with_(version="2")
    other = save_bundle(tmp_path / "v2", spec, framecnn_bundle.state_dict())
    out = tmp_path / "scores.jsonl"
    video = [str(library / "clip_00.mp4")]
    score_videos(ScoreOptions(inputs=video, output=out, model=str(framecnn_bundle.path), workers=1))
    before = out.read_bytes()
    again = ScoreOptions(inputs=[str(library)], output=out, model=str(other.path), resume=True, workers=1)
    with pytest.raises(OutputError, match=r"was scored with model_version = 1, this run has 2"):
        score_videos(again)
    assert out.read_bytes() == before
