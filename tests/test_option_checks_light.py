"""`memo train`, `export`, `bench` and `explain` tell an option mistake before torch is imported.

Every case runs in one fresh interpreter where importing torch (or onnx, onnxruntime, av, DALI,
Ray, scikit-learn) is refused and recorded: the command must exit with its one-line error (or
typer's own usage error) having tried none of them. One case that needs the model registry shows
that the guard does see such an import. Before, each of these errors waited for torch
(3 s on a quiet machine, 25-35 s on a loaded one).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env

RUN_CASES = textwrap.dedent(
    """
    import contextlib, io, json, sys

    HEAVY = ("torch", "onnx", "onnxruntime", "av", "nvidia.dali", "ray", "sklearn")
    tried = []

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if any(name == h or name.startswith(h + ".") for h in HEAVY):
                tried.append(name)
                raise ImportError(f"refused in this test: {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    from memo.cli import app

    results = []
    for args in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                app(args, prog_name="memo")
                code = 0
            except SystemExit as exc:
                code = exc.code
            except BaseException as exc:
                code = repr(exc)
        results.append({"code": code, "stderr": err.getvalue(), "heavy": list(tried)})
        tried.clear()
    print(json.dumps(results))
    """
)

# (arguments, exit status, the error line; "usage:" = typer's own message, several lines)
CASES: list[tuple[list[str], int, str]] = [
    (["--help"], 0, ""),
    (["train", "--help"], 0, ""),
    (["export", "--help"], 0, ""),
    (["bench", "--help"], 0, ""),
    (["explain", "--help"], 0, ""),
    (["train", "csv", "missing.csv", "--target", "score"], 2, "error: missing.csv: no such file"),
    (["train", "foo", "labels.csv"], 2, "error: unknown dataset kind 'foo' (one of videomem, memento10k, csv)"),
    (["train", "csv", "labels.csv", "--folds", "5", "--val-split", "0.2"], 2,
     "error: choose one protocol: --folds, --fold-file or --val-split"),
    (["train", "csv", "labels.csv", "--folds", "1"], 2, "error: --folds must be at least 2, got 1"),
    (["train", "csv", "labels.csv", "--loss", "l3"], 2,
     "error: --loss 'l3': one of mse, l1, mse-tails, spearman, mse-to-spearman, ranking"),
    (["train", "csv", "labels.csv", "--videos", "nowhere"], 2, "error: nowhere: no such folder (--videos)"),
    (["train", "csv", "labels.csv", "--model-arg", "width"], 2,
     "error: --model-arg 'width': expected KEY=VALUE, e.g. --model-arg width=8"),
    (["train", "csv", "labels.csv", "-o", "full"], 2,
     "error: full: run directory is not empty (use --resume to continue or --overwrite)"),
    (["train", "--config", "zero-epochs.toml"], 2, "error: --epochs must be at least 1, got 0"),
    (["train", "--config", "missing.toml"], 2, "error: missing.toml: no such config file"),
    (["train", "csv", "labels.csv", "--epochs", "0"], 2, "usage: Invalid value for '--epochs'"),
    (["train", "csv", "labels.csv", "--decoder", "pyv"], 2,
     "error: unknown decoder 'pyv' (known: auto, pyav, dali); did you mean pyav?"),
    (["train", "csv", "labels.csv", "--nproc-per-node", "2", "--nnodes", "2"], 2,
     "error: --nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)"),
    (["export", "runs/none/bundle"], 2, "error: runs/none/bundle: no such bundle directory"),
    (["export", "full"], 2, "error: full: not a model bundle (no config.json)"),
    (["export", "resmem", "--opset", "99"], 2, "error: --opset 99: memo exports opsets 13 to 21 (default 17)"),
    (["export", "resmem", "--fp16", "--int8"], 2, "error: choose one precision: --fp16 or --int8"),
    (["export", "resmem", "--int8"], 2,
     "error: --int8 needs --calibration DIR or a CSV manifest of real videos to calibrate on"),
    (["export", "resmem", "--force"], 2, "error: --force only applies to trt exports: add --trt"),
    (["export", "resmem", "--batch", "8:4:2"], 2,
     "error: batch profile must satisfy 1 <= MIN <= OPT <= MAX, got 8:4:2"),
    (["export", "resmem", "--text", "nothing.csv"], 2, "error: nothing.csv: no such captions file (--text)"),
    (["bench", "runs/none/bundle"], 2, "error: runs/none/bundle: no such bundle directory"),
    (["bench", "resmem", "--backends", "tensorflow"], 2,
     "error: unknown bench backend 'tensorflow' (choose from torch, onnx, trt)"),
    (["bench", "resmem", "--precisions", "int4"], 2, "error: unknown precision 'int4' (choose from fp32, fp16, int8)"),
    (["bench", "resmem", "--batch-sizes", "0"], 2,
     "error: batch sizes must be positive integers, e.g. --batch-sizes 1,8,32"),
    (["bench", "resmem", "--videos", "nowhere"], 2,
     "error: nowhere: no such folder of sample videos (--videos / $MEMO_SAMPLE_VIDEOS)"),
    (["bench", "resmem", "--feature-rows", "rows.txt"], 2, "error: --feature-rows applies to --features: add --features"),
    (["bench", "resmem", "--csv", "full"], 2, "error: --csv full: is a folder; name the CSV file to write"),
    (["bench", "resmem", "--decoder", "dalli"], 2,
     "error: unknown decoder 'dalli' (known: auto, pyav, dali); did you mean dali?"),
    (["explain", "clip.mp4", "--decoder", "nvdec"], 2, "error: unknown decoder 'nvdec' (known: auto, pyav, dali)"),
    (["explain", "clip.mp4", "-m", "runs/none/bundle"], 2, "error: runs/none/bundle: no such bundle directory"),
    (["explain", "clip.mp4", "--text", "nothing.csv"], 2, "error: nothing.csv: no such captions file (--text)"),
]  # fmt: skip
# A misspelt named model is told by the model registry: the guard must see a heavy import.
NEEDS_TORCH = ["export", "resmen"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("light")
    (folder / "labels.csv").write_text("path,score\na.mp4,0.5\nb.mp4,0.7\n", encoding="utf-8")
    (folder / "full").mkdir()
    (folder / "full" / "left.txt").write_text("a file of an earlier run\n", encoding="utf-8")
    (folder / "zero-epochs.toml").write_text(
        'dataset = "csv"\ndata = "labels.csv"\ntargets = ["score"]\noutput = "run"\n[fit]\nepochs = 0\n',
        encoding="utf-8",
    )
    cases = [args for args, _, _ in CASES] + [NEEDS_TORCH]
    run = subprocess.run(
        [sys.executable, "-c", RUN_CASES, json.dumps(cases)], capture_output=True, text=True,
        env=subprocess_env(COLUMNS="200"), cwd=folder, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=[" ".join(c[0]) for c in CASES])
def test_the_mistake_is_told_before_torch_is_imported(
    results: list[dict[str, Any]], index: int, case: tuple[list[str], int, str]
) -> None:
    args, code, message = case
    got = results[index]
    assert got["heavy"] == [], f"memo {' '.join(args)} imported {got['heavy']}"
    assert got["code"] == code, got
    lines = got["stderr"].strip().splitlines()
    if message.startswith("usage: "):
        assert message.removeprefix("usage: ") in got["stderr"]
    elif message:
        assert lines == [message]
    else:
        assert lines == []


def test_the_guard_sees_a_heavy_import(results: list[dict[str, Any]]) -> None:
    assert results[len(CASES)]["heavy"]  # the models import PyAV, then torch


def test_the_run_directory_policy(tmp_path: Path) -> None:
    from memo.errors import MemoError
    from memo.trainer.options import TrainOptions, check_run_directory

    out = tmp_path / "run"
    options = TrainOptions("csv", tmp_path / "labels.csv", output=out)
    check_run_directory(options)  # new
    out.mkdir()
    check_run_directory(options)  # empty
    (out / "metrics.json").write_text("{}")
    with pytest.raises(MemoError, match="run directory is not empty"):
        check_run_directory(options)
    options.overwrite = True
    check_run_directory(options)
    options.overwrite, options.resume = False, True
    with pytest.raises(MemoError, match="run directory is not empty"):  # nothing to resume
        check_run_directory(options)
    (out / "checkpoint").mkdir()
    (out / "checkpoint" / "state.json").write_text("{}")
    check_run_directory(options)
    with pytest.raises(MemoError, match="is a file, not a run directory"):
        check_run_directory(TrainOptions("csv", tmp_path / "labels.csv", output=out / "metrics.json"))


def test_a_bare_feature_name_is_found_inside_a_videomem_folder(tmp_path: Path) -> None:
    from memo.errors import InputError
    from memo.trainer.options import TrainOptions, check_paths

    (tmp_path / "coco80_rn152.bin").write_bytes(b"")
    inside = TrainOptions("videomem", tmp_path, inputs=["features"], features=[Path("coco80_rn152.bin")])
    check_paths(inside)
    with pytest.raises(InputError, match=r"coco80_rn101\.bin: no such features file or directory"):
        check_paths(
            TrainOptions("videomem", tmp_path, inputs=["features"], features=[Path("coco80_rn101.bin")])
        )


def test_the_auto_device_is_resolved_when_training_starts(tmp_path: Path) -> None:
    from memo.runtime.base import resolve_device
    from memo.trainer.engine import resolved
    from memo.trainer.fit_config import FitConfig
    from memo.trainer.options import TrainOptions, validate

    (tmp_path / "labels.csv").write_text("path,score\na.mp4,0.5\n", encoding="utf-8")
    options = TrainOptions("csv", tmp_path / "labels.csv", targets=["score"])
    assert options.fit.device == "auto"  # made and checked without torch
    assert (
        resolved(options.fit).device == resolve_device("auto")
        and resolved(FitConfig(device="cpu")).device == "cpu"
    )
    validate(options)
    assert options.fit.device == resolve_device("auto")


def test_the_torch_free_tables_match_the_ones_they_stand_for() -> None:
    from memo.bench.options import DEFAULT_MODEL, BenchOptions
    from memo.export.int8_quant import METHODS
    from memo.export.options import BUNDLE_CONFIG, CALIBRATION_METHODS
    from memo.models import named
    from memo.models.bundle import CONFIG
    from memo.trainer.fit_config import LOSSES
    from memo.trainer.losses import _TABLE

    assert BenchOptions().model == DEFAULT_MODEL == named.DEFAULT_MODEL
    assert BUNDLE_CONFIG == CONFIG and CALIBRATION_METHODS == METHODS
    assert set(LOSSES) == set(_TABLE)
