"""Side inputs (caption and feature tables) are opened by one library function,
:func:`memo.data.streams.open_side_inputs`, that score, explain, export and bench all call:
one check of the tables against the model's inputs, one message for a missing table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memo.bench.runner import BenchOptions, run_bench
from memo.cli import app
from memo.data.streams import SideInputs, open_side_inputs
from memo.errors import InputError, MemoError
from memo.export import ExportError
from memo.export.runner import ExportOptions, run_export
from tests.exporthelp import feature_folder, features_fusion

NAMES = [f"clip{i:02d}" for i in range(4)]
MISSING = "model 'fusion-mlp' needs --features (input 'feats')"


@pytest.fixture
def bundle(tmp_path: Path):  # type: ignore[no-untyped-def]
    return features_fusion(tmp_path / "bundle", dim=3)


def test_open_side_inputs_checks_then_opens(bundle, tmp_path: Path) -> None:
    feats = feature_folder(tmp_path / "feats", NAMES, 3)
    providers = open_side_inputs(bundle, SideInputs(features=[feats]))
    assert list(providers) == ["features"] and "clip01" in providers["features"].table
    with pytest.raises(InputError, match=rf"^{re.escape(MISSING)}$"):
        open_side_inputs(bundle, SideInputs())
    with pytest.raises(InputError, match="--text: model 'fusion-mlp' has no text input"):
        open_side_inputs(bundle, SideInputs(text=tmp_path / "c.csv", features=[feats]))
    with pytest.raises(InputError, match="--feature-rows applies to --features"):
        open_side_inputs(bundle, SideInputs(feature_rows=tmp_path / "rows.txt"))


def test_every_command_reports_a_missing_table_with_the_same_message(bundle, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=re.escape(f"{MISSING} for validation")):
        run_export(ExportOptions(model=str(bundle.path), formats=["onnx"]))
    with pytest.raises(MemoError, match=re.escape(f"{MISSING} to benchmark")):
        run_bench(BenchOptions(model=str(bundle.path), backends=("torch",)))
    score = CliRunner().invoke(  # an id to score, but no --features table to read it from
        app, ["score", "clip01", "-m", str(bundle.path), "-o", str(tmp_path / "s.csv")]
    )
    feats = feature_folder(tmp_path / "feats", NAMES, 3)
    assert score.exit_code == 2 and MISSING in score.output
    extra = CliRunner().invoke(
        app,
        [
            "score",
            "-m",
            str(bundle.path),
            "--features",
            str(feats),
            "--text",
            "c.csv",
            "-o",
            str(tmp_path / "t.csv"),
        ],
    )
    assert extra.exit_code == 2 and "--text: model 'fusion-mlp' has no text input" in extra.output
