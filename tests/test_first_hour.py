"""What a new user hit in their first hour (issue 16): help, messages, checks before torch,
the ETA, caption files, saturated scores, third-party bars, a temporary MEMO_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from memo.score.checks import check_output
from memo.score.summary import ScoreSummary
from tests.conftest import memo_command, subprocess_env

COMMANDS = ("", "score", "train", "explain", "bench", "export", "models")


def _memo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*memo_command(), *args], capture_output=True, text=True, env=subprocess_env(**env), timeout=120
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_whole_at_80_columns_in_a_pipe(command: str) -> None:
    run = _memo(*([command] if command else []), "--help", COLUMNS="80")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "…" not in text  # nothing cut off
    assert not [line for line in text.splitlines() if line.endswith("...") and "Usage:" not in line]
    assert "../shared" not in text and "own CI" not in text  # no project-internal wording
    assert "[bold]" not in text and "[/]" not in text  # no markup shown as text
    if "pip install 'memo" in text:  # the extra's name survives (rich ate "[dali]" as markup)
        assert "pip install 'memo[" in text.replace("\n", " ").replace("  ", " ")
    if command in ("score", "explain", "bench"):
        assert "memo[dali]" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_score_without_arguments_is_one_line_error() -> None:
    run = _memo("score")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: no videos given: memo score PATH... -o scores.csv (see memo score --help)"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "x.mp4", "-o", "out.txt"], "unknown output format '.txt'"),
        (["score", "x.mp4", "--backend", "foo"], "unknown backend 'foo' (known: auto, torch, onnx, trt)"),
        (["score", "x.mp4", "--resume", "--overwrite"], "contradict each other"),
        (["score", "x.mp4", "--path-column", "p"], "--path-column needs --manifest"),
    ],
)
def test_score_option_mistakes_exit_before_torch_is_imported(args: list[str], message: str, tmp_path) -> None:
    """Option mistakes are found before torch loads (4.5-7 s before, well under a second after)."""
    code = (
        "import sys\nfrom memo.cli import app\n"
        f"try:\n    app({args!r}, prog_name='memo')\n"
        "except SystemExit as exc:\n    print('exit', exc.code, 'torch' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert run.stdout.strip() == "exit 2 False", run.stderr
    assert message in run.stderr


def test_parquet_left_by_a_run_killed_before_its_first_rewrite(tmp_path: Path) -> None:
    out = tmp_path / "k.parquet"
    (tmp_path / "k.parquet.journal.jsonl").write_text('{"path": "a.mp4"}\n')
    with pytest.raises(Exception, match=r"k\.parquet: not written yet, but an interrupted run left "
                       r"k\.parquet\.journal\.jsonl .* --resume .* --overwrite"):  # fmt: skip
        check_output(out, resume=False, overwrite=False)
    check_output(out, resume=True, overwrite=False)


def test_an_output_folder_where_nothing_can_be_created_is_named(tmp_path: Path) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    with pytest.raises(Exception, match=r"/proc/x/x3\.csv: cannot write the results \(.*in /proc"):
        check_output(Path("/proc/x/x3.csv"), resume=False, overwrite=False)


def test_the_hint_for_a_missing_export_names_a_named_model_by_its_name(tmp_path: Path) -> None:
    import torch

    from memo.fsio import memo_home
    from memo.models.bundle import save_bundle
    from memo.models.registry import create_model
    from memo.models.tiny import framecnn_spec
    from memo.runtime.artifacts import missing_artifact

    state = create_model("framecnn", width=4).state_dict()
    spec = framecnn_spec(size=16).with_(arch_args={"width": 4})
    named = save_bundle(memo_home() / "bundles" / "resmem-hint-test", spec.with_(name="resmem"), state)
    own = save_bundle(tmp_path / "mine", spec, state)
    assert "export it first: memo export resmem --onnx" in str(missing_artifact(named, "onnx"))
    assert f"export it first: memo export {own.path} --onnx" in str(missing_artifact(own, "onnx"))
    del torch


def test_scores_all_at_a_bound_are_flagged_in_the_summary() -> None:
    summary = ScoreSummary("s.csv", "m3s@1", "torch", "cpu")
    summary.set_file_rows([{"path": f"v{i}", "status": "ok", "score": 0.0} for i in range(3)], "score")
    assert summary.saturated is not None and "exactly 0.0" in summary.saturated
    assert summary.to_json()["saturated"] == summary.saturated
    summary.set_file_rows([{"path": "a", "status": "ok", "score": 0.0}, {"path": "b", "status": "ok",
                                                                       "score": 0.4}], "score")  # fmt: skip
    assert summary.saturated is None


def test_eta_comes_from_finished_videos_and_the_run_rate() -> None:
    from memo.cli.score_progress import format_eta

    assert format_eta(10.0, 2, 8) == "0:00:30"  # 5 s a video so far, 6 to go
    assert format_eta(0.0, 0, 8) == "-:--:--"  # nothing finished: no guess
    assert format_eta(40.0, 8, 8) == "0:00:00"
    assert format_eta(3700.0, 1, 2) == "1:01:40"


def test_videomem_titles_file_is_a_caption_file(tmp_path: Path) -> None:
    from memo.data.captions import read_captions

    titles = tmp_path / "test-set_video-captions.txt"
    titles.write_bytes(b"video1.webm\tsnow-and-string-lights\r\nvideo1000.webm\tclown-fish-by-coral\r\n")
    captions = read_captions(titles)
    assert captions.ids() == ["video1.webm", "video1000.webm"]
    assert captions.captions_of("/data/video1000.webm") == ["clown fish by coral"]
    assert captions.captions_of("video1") == ["snow and string lights"]
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("video_id\tcaption\nclip.mp4\ta dog runs\n")
    assert read_captions(tsv).captions_of("clip.mp4") == ["a dog runs"]


def test_m3s_stage_line_names_only_the_tiers_read_from_video() -> None:
    from memo.models.m3s import m3s_spec
    from memo.trainer.m3s_recipe import video_tiers

    assert video_tiers(m3s_spec(modules=("low", "mid"), mid="tiny")) == ["low", "mid"]
    assert video_tiers(m3s_spec(mid={"stream": "features", "dim": 4}, high="tiny3d")) == ["low", "high"]


def test_memo_commands_turn_off_hugging_face_loading_bars() -> None:
    """The "Loading weights: 103/103" bar of a text encoder is drawn by transformers' own tqdm,
    which every memo command turns off before anything loads (a user's own setting wins)."""
    pytest.importorskip("transformers", reason="the text extra is not installed")
    code = (
        "import click, typer\nfrom memo.cli import app\n"
        "group = typer.main.get_command(app)\ngroup.parse_args(click.Context(group), ['models'])\n"
        "from transformers.utils import logging\nprint(logging.is_progress_bar_enabled())\n"
    )
    env = subprocess_env()
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "TRANSFORMERS_VERBOSITY"):
        env.pop(name, None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.stdout.strip() == "False", run.stderr
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "0"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.stdout.strip() == "True", run.stderr


def test_the_suite_writes_into_a_temporary_memo_home() -> None:
    from memo.fsio import memo_home

    home = memo_home().resolve()
    assert home.is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert home != (Path.home() / ".cache" / "memo").resolve()
    assert os.environ["MEMO_HOME"] == str(home) or Path(os.environ["MEMO_HOME"]).resolve() == home
