"""memo bench of a bundle that reads no video: its inputs are the first ids of its feature table.

The same helpers as memo export's validation (:func:`memo.export.samples.sample_inputs`,
:func:`memo.data.streams.check_stream_inputs`): a features-only fusion-mlp, exported to ONNX,
is benchmarked on torch and onnx with parity; a missing or misplaced table is one line, exit 2,
before any work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner

from memo.cli import app
from memo.data.features import open_features
from memo.data.streams import open_providers
from memo.export import export_onnx
from memo.models.bundle import Bundle
from tests.exporthelp import feature_folder, features_fusion

NAMES = [f"clip{i:02d}" for i in range(12)]
FAST = ["--device", "cpu", "--warmup", "0", "--iterations", "2", "--max-seconds", "1", "--threads", "1"]


def _bench(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["bench", *args], env={"COLUMNS": "200"})
    return done.exit_code, done.output


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Bundle, Path]:
    """A features-only fusion-mlp (scores spread) exported to ONNX, and its feature folder."""
    root = tmp_path_factory.mktemp("bench_streams")
    bundle, feats = features_fusion(root / "bundle", dim=5), feature_folder(root / "feats", NAMES, 5)
    export_onnx(bundle, batch="1:2:4", providers=open_providers(features=[feats]))
    return bundle, feats


def test_features_only_bundle_is_benched_on_the_table_ids(exported) -> None:
    bundle, feats = exported
    args = [str(bundle.path), "--features", str(feats), "--backends", "torch,onnx", "--batch-sizes", "1,4"]
    code, out = _bench(*args, *FAST, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["videos"] == list(open_features(feats).index)[:8]  # ids, as memo export validates
    assert report["decoder"] == "none" and not report["end_to_end"]
    rows = report["rows"]
    assert [(r["backend"], r["batch"], r["status"]) for r in rows] == [
        ("torch", 1, "ok"), ("torch", 4, "ok"), ("onnx", 1, "ok"), ("onnx", 4, "ok")
    ]  # fmt: skip
    for row in rows:
        assert row["parity_videos"] == 8 and row["spearman"] >= 0.999 and row["max_abs_diff"] <= 1e-4
        assert row["latency_p50_ms"] > 0 and row["frames_per_s"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "model 'fusion-mlp' needs --features (input 'feats') to benchmark"),
        (("--feature-rows", "rows.txt"), "--feature-rows applies to --features: add --features"),
        (("--features", "FEATS", "--text", "CAPTIONS"), "--text: model 'fusion-mlp' has no text input"),
        (("--features", "FEATS", "--videos", "."), "--videos: model 'fusion-mlp' reads no video"),
    ],
)
def test_stream_options_are_checked_before_any_work(exported, extra, message, tmp_path) -> None:
    bundle, feats = exported
    captions = tmp_path / "captions.csv"  # a real table: the message is about the model, not the file
    captions.write_text("id,caption\nv0,a dog\n", encoding="utf-8")
    args = [{"FEATS": str(feats), "CAPTIONS": str(captions)}.get(a, a) for a in extra]
    code, out = _bench(str(bundle.path), "--backends", "torch,onnx", "--batch-sizes", "1", *FAST, *args)
    assert code == 2 and message in out, out
    assert len(out.strip().splitlines()) == 1, out  # one line: nothing was sampled, decoded or timed
