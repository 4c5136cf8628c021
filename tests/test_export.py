"""memo export --onnx: graph names/shapes, validation on real frames, export.json, external data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from memo.export import BatchProfile, ExportError, ValidationFailed, export_onnx  # noqa: E402
from memo.export.record import read_records  # noqa: E402
from memo.export.runner import ExportOptions, check_export_options  # noqa: E402
from memo.fsio import atomic_write_json  # noqa: E402
from memo.models.bundle import read_bundle, save_bundle  # noqa: E402
from memo.models.spec import OutputSpec  # noqa: E402
from memo.runtime.artifacts import artifact_sha256, sha256_file  # noqa: E402
from memo.runtime.base import load_session  # noqa: E402
from tests.conftest import SHARED_VIDEOS  # noqa: E402
from tests.exporthelp import copy_bundle  # noqa: E402


@pytest.fixture(scope="module")
def exported(framecnn_bundle, tmp_path_factory):
    bundle = copy_bundle(framecnn_bundle, tmp_path_factory.mktemp("exp") / "framecnn")
    result = export_onnx(bundle, batch="1:4:8", simplify=True)
    return bundle, result


def test_graph_names_and_dynamic_batch_match_config(exported):
    _bundle, result = exported
    model = onnx.load(str(result.path))
    assert [i.name for i in model.graph.input] == ["frames"]
    assert [o.name for o in model.graph.output] == ["score"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 32, 32]


def test_export_json_records_the_validation(exported):
    bundle, result = exported
    record = read_records(bundle)["model.onnx"]
    check = record["validation"]
    assert check["passed"] and check["names_ok"] and check["shapes_ok"]
    assert 0 <= check["max_abs_diff"] <= bundle.spec.export_atol
    assert check["mean_abs_diff"] <= check["max_abs_diff"]
    assert len(check["videos"]) >= 3 and check["rows"] == 7 * len(check["videos"])
    assert check["spearman"] is None or check["spearman"] >= 0.999
    assert record["batch"] == {"min": 1, "opt": 4, "max": 8}
    assert record["opset"] == 17 and record["external_data"] is False
    assert record["simplified"] and record["nodes_simplified"] <= record["nodes"]
    assert record["sha256"] == artifact_sha256(result.path)
    assert not list(bundle.path.glob(".export-*")), "scratch directory left behind"


@pytest.mark.parametrize("rows", [1, 5])
def test_dynamic_batch_runs_and_matches_torch(exported, rows):
    bundle, _ = exported
    x = np.random.default_rng(rows).random((rows, 3, 32, 32), dtype=np.float32)
    got = load_session(bundle, "onnx", "cpu").run({"frames": x})["score"]
    want = load_session(bundle, "torch", "cpu").run({"frames": x})["score"]
    assert got.shape == (rows,)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_external_data_path_and_stale_data_removed(framecnn_bundle, tmp_path):
    bundle = copy_bundle(framecnn_bundle, tmp_path / "b")
    result = export_onnx(bundle, external_data_threshold=0, sample_count=3)
    data = bundle.path / "model.onnx.data"
    assert result.record["external_data"] is True and data.is_file()
    assert result.path.stat().st_size < data.stat().st_size
    assert result.validation.passed
    assert result.record["sha256"] == artifact_sha256(result.path) != _sha(result.path)
    # A later small export must not leave the old weights file behind.
    export_onnx(bundle, sample_count=3)
    assert not data.exists()
    x = np.zeros((2, 3, 32, 32), np.float32)
    assert load_session(bundle, "onnx", "cpu").run({"frames": x})["score"].shape == (2,)


def _sha(path):
    return sha256_file(path)


def test_failed_validation_is_an_error_and_installs_nothing(framecnn_bundle, tmp_path):
    bundle = copy_bundle(framecnn_bundle, tmp_path / "b")
    good = export_onnx(bundle, sample_count=3)
    # Tighten the tolerance to zero: the same graph now misses it (fp32 differs at ~1e-8).
    atomic_write_json(bundle.path / "config.json", bundle.spec.with_(export_atol=0.0).to_json())
    strict = read_bundle(bundle.path)
    with pytest.raises(ValidationFailed, match="max abs diff"):
        export_onnx(strict, sample_count=3)
    records = json.loads((bundle.path / "export.json").read_text())["artifacts"]
    assert records["failed:model.onnx"]["validation"]["passed"] is False
    assert records["failed:model.onnx"]["validation"]["max_abs_diff"] > 0
    # the earlier, validated artifact and its record are untouched
    assert (
        records["model.onnx"]["sha256"]
        == good.record["sha256"]
        == artifact_sha256(bundle.path / "model.onnx")
    )
    assert not list(bundle.path.glob(".export-*"))


def test_output_names_are_checked(framecnn_bundle, tmp_path):
    source = copy_bundle(framecnn_bundle, tmp_path / "src")
    renamed = source.spec.with_(outputs=(OutputSpec("memorability"),))
    bundle = save_bundle(tmp_path / "renamed", renamed, source.state_dict())
    with pytest.raises(ValidationFailed, match="PyTorch outputs"):
        export_onnx(bundle, sample_count=3)


def test_option_conflicts_fail_with_the_fix():
    with pytest.raises(ExportError, match="add --trt"):
        check_export_options(ExportOptions(model="x", formats=["onnx"], workspace_gb=2))
    with pytest.raises(ExportError, match="add --onnx"):
        check_export_options(ExportOptions(model="x", formats=["trt"], simplify=True))
    with pytest.raises(ExportError, match="--force only applies to trt exports: add --trt"):
        check_export_options(ExportOptions(model="x", formats=["onnx"], force=True))
    with pytest.raises(ExportError, match="unknown precision 'int4'"):
        check_export_options(ExportOptions(model="x", precision="int4"))
    with pytest.raises(ExportError, match="--int8 needs --calibration"):
        check_export_options(ExportOptions(model="x", precision="int8"))
    with pytest.raises(ExportError, match="unknown format"):
        check_export_options(ExportOptions(model="x", formats=["tflite"]))
    with pytest.raises(ExportError, match="MIN <= OPT <= MAX"):
        check_export_options(ExportOptions(model="x", batch="8:4:16"))
    assert check_export_options(ExportOptions(model="x", batch="2:8:32")) == BatchProfile(2, 8, 32)


def test_cli_export_json_and_usage_errors(framecnn_bundle, tmp_path):
    import subprocess

    from tests.conftest import memo_command, subprocess_env

    bundle = copy_bundle(framecnn_bundle, tmp_path / "cli")
    proc = subprocess.run(
        [*memo_command(), "export", str(bundle.path), "--onnx", "--batch", "1:2:4", "--json"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)
    assert record["path"] == str(bundle.path / "model.onnx") and record["validation"]["passed"]
    assert record["batch"] == {"min": 1, "opt": 2, "max": 4}
    bad = subprocess.run(
        [*memo_command(), "export", str(bundle.path), "--onnx", "--workspace-gb", "2"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert bad.returncode == 2 and "add --trt" in bad.stderr


@pytest.mark.slow
def test_resmem_exports_and_validates_on_real_videos(tmp_path):
    from memo.models.named import resolve_model

    pytest.importorskip("resmem")
    cached = resolve_model("resmem")
    target = tmp_path / "resmem"
    target.mkdir()
    (target / "config.json").write_bytes((cached.path / "config.json").read_bytes())
    (target / "weights.safetensors").symlink_to(cached.weights_path)
    bundle = read_bundle(target)
    if not SHARED_VIDEOS.is_dir():
        pytest.skip("real videos not present in ../shared/videos")
    result = export_onnx(
        bundle, videos=SHARED_VIDEOS, sample_count=3
    )  # named: the library reads no folder itself
    check = result.validation
    assert check.passed, check.problems
    assert all(Path(v).parent == SHARED_VIDEOS for v in check.videos)
    assert check.max_abs_diff <= 1e-4
    assert check.spearman is not None and check.spearman >= 0.999
    assert 450 < result.record["bytes"] / 2**20 < 600  # ~527 MB of fp32 weights, one file (< 2 GB)
    assert result.record["external_data"] is False


def test_sample_videos_are_an_explicit_input(tmp_path, monkeypatch):
    """The library reads only the folder it is given: without one, generated videos in
    $MEMO_HOME/samples (never ../shared/videos beside the checkout); a folder that does not
    exist is refused before any work, in one line naming it."""
    from memo.export.samples import sample_videos
    from memo.fsio import memo_home

    monkeypatch.chdir(tmp_path)
    generated = sample_videos(None, count=2)
    assert len(generated) == 2 and all(Path(p).parent == memo_home() / "samples" for p in generated)
    missing = tmp_path / "no-such-folder"
    with pytest.raises(ExportError, match=rf"^{missing}: no such folder of sample videos \(--videos"):
        check_export_options(ExportOptions(model="resmem", formats=["onnx"], videos=missing))
