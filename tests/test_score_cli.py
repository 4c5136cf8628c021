"""`memo score` from the command line: exit status, messages, --json, help and version."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memo import __version__
from memo.cli import app
from memo.data.synthetic import write_video
from memo.score.writers import read_results

from .conftest import memo_command, subprocess_env

LICENCE = "licensed for non-commercial use only"


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*memo_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(COLUMNS="200"),
        check=False,
    )


def _flat(text: str) -> str:
    """Help text without rich's box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_version() -> None:
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"memo {__version__}"


def test_help_mentions_commands_and_licence() -> None:
    done = _run("--help")
    assert done.returncode == 0
    text = _flat(done.stdout)
    assert "score" in text and "models" in text
    assert LICENCE in text


def test_score_help_mentions_options_and_licence() -> None:
    done = _run("score", "--help")
    assert done.returncode == 0
    text = _flat(done.stdout)
    for option in [
        "--output",
        "--model",
        "--batch-size",
        "--workers",
        "--frames",
        "--per-frame",
        "--resume",
        "--overwrite",
        "--ext",
        "--json",
        "--quiet",
    ]:
        assert option in text, option
    assert ".csv, .jsonl or .parquet" in text
    assert "Exit status: 0 all scored, 1 some videos failed" in text
    assert LICENCE in text


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    write_video(folder / "a.mp4", "h264", frames=20, fps=20, width=64, height=48, seed=1)
    write_video(folder / "b [take 2].webm", "vp8", frames=20, fps=20, width=64, height=48, seed=2)
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    return folder


def test_some_failed_exits_1_with_a_json_summary(mixed_dir: Path, framecnn_bundle, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    done = _run("score", str(mixed_dir), "-o", str(out), "--model", str(framecnn_bundle.path), "--json")
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["total"], summary["scored"], summary["failed"]) == (3, 2, 1)
    assert summary["failures"] == [
        {"path": str(mixed_dir / "broken.mp4"), "error": summary["failures"][0]["error"]}
    ]
    assert summary["failures"][0]["error"].startswith(f"{mixed_dir / 'broken.mp4'}: ")
    assert 0.0 <= summary["mean_score"] <= 1.0
    assert summary["output"] == str(out)
    rows = read_results(out)
    assert sorted(r["status"] for r in rows) == ["failed", "ok", "ok"]


def test_all_scored_exits_0_and_prints_the_table(mixed_dir: Path, framecnn_bundle, tmp_path: Path) -> None:
    folder = tmp_path / "good"
    folder.mkdir()
    for name in ("a.mp4", "b [take 2].webm"):
        shutil.copy(mixed_dir / name, folder / name)
    out = tmp_path / "scores.jsonl"
    result = _invoke(
        "score", str(folder), "-o", str(out), "--model", str(framecnn_bundle.path), "--per-frame"
    )
    assert result.exit_code == 0, result.output
    assert "b [take 2].webm" in result.output  # a path with brackets is shown as it is
    rows = read_results(out)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(len(r["frame_score"]) == 7 for r in rows)


def test_frames_option_changes_the_sample_count(mixed_dir: Path, framecnn_bundle, tmp_path: Path) -> None:
    out = tmp_path / "scores.jsonl"
    result = _invoke(
        "score", str(mixed_dir / "a.mp4"), "-o", str(out), "-m", str(framecnn_bundle.path), "-n", "3",
        "--per-frame", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = read_results(out)
    assert row["frames"] == 3 and len(row["frame_score"]) == 3


def test_usage_errors_exit_2_with_one_line(mixed_dir: Path, framecnn_bundle, tmp_path: Path) -> None:
    bundle = str(framecnn_bundle.path)
    existing = tmp_path / "done.csv"
    existing.write_text("path\n")
    cases = {
        "no such bundle directory": [
            "score",
            str(mixed_dir),
            "-o",
            str(tmp_path / "o.csv"),
            "-m",
            "/no/such/model",
        ],
        "already exists; use --resume": ["score", str(mixed_dir), "-o", str(existing), "-m", bundle],
        "unknown output format '.xlsx'": [
            "score",
            str(mixed_dir),
            "-o",
            str(tmp_path / "o.xlsx"),
            "-m",
            bundle,
        ],
        "no such file or directory": [
            "score",
            str(tmp_path / "absent"),
            "-o",
            str(tmp_path / "o.csv"),
            "-m",
            bundle,
        ],
        "contradict": ["score", str(mixed_dir), "-o", str(existing), "-m", bundle, "--resume", "--overwrite"],
    }
    for cause, args in cases.items():
        result = _invoke(*args)
        assert result.exit_code == 2, (cause, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and cause in errors[0], (cause, result.output)
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.xlsx").exists()
    assert existing.read_text() == "path\n"  # refused, not touched
    result = _invoke("score", str(mixed_dir), "-o", str(tmp_path / "o.csv"), "--batch-size", "0")
    assert result.exit_code == 2 and "--batch-size" in result.output


def test_ext_option_limits_what_folders_yield(mixed_dir: Path, framecnn_bundle, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = _invoke(
        "score", str(mixed_dir), "-o", str(out), "-m", str(framecnn_bundle.path), "--ext", "WEBM, mkv", "-q"
    )
    assert result.exit_code == 0, result.output
    assert [Path(r["path"]).name for r in read_results(out)] == ["b [take 2].webm"]


def test_both_engines_stop_on_ctrl_c_keeping_rows_and_saying_how_to_resume(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The one progress bar and Ctrl-C handling of the local and the Ray engine
    (``memo.cli.score_progress``): 130 and the resume line on Ctrl-C, the one-line error on a
    MemoError, the summary otherwise."""
    import typer

    from memo.cli.score_progress import run_with_progress
    from memo.errors import MemoError
    from memo.score.summary import ScoreSummary

    summary = ScoreSummary("out", "m", "torch", "cpu")

    def interrupted(on_start, on_row):  # type: ignore[no-untyped-def]
        on_start(3, 1)
        on_row({"path": "a.mp4", "status": "failed", "error": "a.mp4: unreadable"}, summary)
        raise KeyboardInterrupt

    def refused(on_start, on_row):  # type: ignore[no-untyped-def]
        raise MemoError("--address: cannot connect to ray://head:10001")

    for show in (True, False):
        with pytest.raises(typer.Exit) as stopped:
            run_with_progress(show, "out/", interrupted)
        err = " ".join(capsys.readouterr().err.split())
        assert stopped.value.exit_code == 130
        assert "interrupted: finished rows are in out/; run again with --resume to continue" in err
        assert ("resuming: 1 of 3 videos" in err) is show and ("failed: a.mp4: unreadable" in err) is show
    with pytest.raises(typer.Exit) as stopped:
        run_with_progress(True, "out/", refused)
    assert stopped.value.exit_code == 2
    assert "error: --address: cannot connect to ray://head:10001" in capsys.readouterr().err
    assert run_with_progress(False, "out/", lambda on_start, on_row: summary) is summary
