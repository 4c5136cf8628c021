"""int8 (`memo export --onnx --int8`): calibrated on some videos, validated on others, or refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memo.data.synthetic import write_video
from memo.export.errors import ExportError, ValidationFailed
from memo.export.int8_correct import stored_correction
from memo.models.bundle import Bundle, save_bundle
from tests.baselinehelp import TINY, tiny_bundle
from tests.exporthelp import feature_folder, features_fusion

pytest.importorskip("onnxruntime")


def _framecnn(target: Path, spread: float = 60.0) -> Bundle:
    """framecnn with its head scaled so that six generated videos get distinct scores."""
    import torch

    from memo.models.registry import create_model
    from memo.models.tiny import framecnn_spec

    torch.manual_seed(0)
    module = create_model("framecnn", width=8)
    with torch.no_grad():
        module.head.weight.mul_(spread)
        module.head.bias.zero_()
    return save_bundle(target, framecnn_spec(size=32).with_(arch_args={"width": 8}), module.state_dict())


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calibration")
    for i in range(3):
        write_video(folder / f"c{i}.mp4", "h264", frames=30, fps=15, width=64, height=48, seed=100 + i)
    return folder


def _records(bundle: Bundle) -> dict:
    return json.loads((bundle.path / "export.json").read_text())["artifacts"]


def test_int8_is_validated_on_videos_not_used_for_calibration_then_scores(
    tmp_path, sample_dir, calibration_dir
) -> None:
    from memo.export.runner import ExportOptions, run_export
    from memo.score import ScoreOptions, score_videos
    from memo.score.settings import read_sidecar

    bundle = _framecnn(tmp_path / "b")
    options = ExportOptions(
        str(bundle.path), precision="int8", calibration=calibration_dir, videos=sample_dir
    )
    (_result,) = run_export(options)
    record = _records(bundle)["model.int8.onnx"]
    check = record["validation"]
    assert check["passed"] and check["spearman"] >= 0.995 and check["video_max_abs_diff"] <= 0.01, check
    assert not set(record["calibration"]["videos"]) & set(check["videos"]) and len(check["videos"]) == 6
    assert record["calibration"]["frames"] >= 48 and record["quantisation"]["method"] == "minmax"
    assert record["quantisation"]["excluded_nodes"]  # the first convolution stays fp32
    assert (bundle.path / "model.onnx").is_file()  # the fp32 graph it was built from, exported first
    correction = record["quantisation"]["output_correction"]["outputs"]["score"]
    assert correction["rows"] == record["calibration"]["frames"]  # fitted on the calibration frames only
    stored = stored_correction(bundle.path / "model.int8.onnx")  # and written into the graph
    assert stored == {"score": pytest.approx((correction["scale"], correction["shift"]), abs=1e-6)}

    out = tmp_path / "s.csv"
    run = ScoreOptions(inputs=[str(sample_dir)], output=out, model=str(bundle.path), device="cpu",
                       backend="onnx", precision="int8", workers=1)  # fmt: skip
    summary = score_videos(run)
    assert summary.scored == 6 and read_sidecar(out)["settings"]["precision"] == "int8"
    got = {p: s for p, s in summary.scores}
    want = dict(zip(check["videos"], check["reference_scores"], strict=True))
    assert max(abs(got[p] - want[p]) for p in want) <= 0.01
    with pytest.raises(Exception, match="precision"):  # int8 rows never mix with fp32 ones
        score_videos(ScoreOptions(inputs=[str(sample_dir)], output=out, model=str(bundle.path), device="cpu",
                                  resume=True, workers=1))  # fmt: skip


def test_int8_option_mistakes_are_refused_before_work(tmp_path, sample_dir, calibration_dir) -> None:
    from memo.export.runner import ExportOptions, run_export

    bundle = _framecnn(tmp_path / "b")
    with pytest.raises(ExportError, match="needs --calibration"):
        run_export(ExportOptions(str(bundle.path), precision="int8"))
    with pytest.raises(ExportError, match="--trt has none"):
        run_export(ExportOptions(str(bundle.path), formats=["onnx", "trt"], precision="int8",
                                 calibration=calibration_dir))  # fmt: skip
    with pytest.raises(ExportError, match="only apply to --int8"):
        run_export(ExportOptions(str(bundle.path), calibration=calibration_dir))
    with pytest.raises(ExportError, match="not used for calibration"):  # validation = calibration: refused
        run_export(
            ExportOptions(str(bundle.path), precision="int8", calibration=sample_dir, videos=sample_dir)
        )
    fusion = features_fusion(tmp_path / "fusion", dim=8)
    feats = feature_folder(tmp_path / "feats", [f"v{i}" for i in range(4)], 8)
    with pytest.raises(ExportError, match="reads no video frames"):
        run_export(
            ExportOptions(str(fusion.path), precision="int8", calibration=calibration_dir, features=[feats])
        )
    assert not list(tmp_path.rglob("model.int8.onnx"))


def test_failed_int8_validation_is_an_error_recorded_in_export_json(tmp_path, sample_dir) -> None:
    from memo.export.int8_export import export_int8

    dark = tmp_path / "dark"  # calibrated on black frames: every real activation range is clipped
    dark.mkdir()
    for i in range(3):
        write_video(dark / f"d{i}.mp4", "h264", frames=20, fps=10, width=64, height=48,
                    painter=lambda _: np.zeros((48, 64, 3), np.uint8))  # fmt: skip
    bundle = _framecnn(tmp_path / "b", spread=300.0)
    with pytest.raises(ValidationFailed, match="not used for calibration"):
        export_int8(bundle, dark, method="minmax", videos=sample_dir)
    failed = _records(bundle)["failed:model.int8.onnx"]
    assert not failed["validation"]["passed"] and failed["validation"]["problems"]
    assert not (bundle.path / "model.int8.onnx").exists() and not list(bundle.path.glob(".export-*"))


def _zoo_bundle(config: str, target: Path) -> Bundle:
    """A tiny bundle of every architecture of the zoo that reads frames (memo's framecnn and
    ResMem have their own tests)."""
    if config in TINY:
        return tiny_bundle(config, target)
    import torch

    from tests.modelhelp import build
    from tests.test_models_amnet import amnet_spec, video_spec
    from tests.test_models_vmemnet import tiny_spec

    spec = {"amnet": amnet_spec, "vmemnet": tiny_spec}.get(config, lambda: video_spec(config))()
    module = build(spec)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # heads that start at the label mean (zero weights) get weights, so scores spread
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear) and not layer.weight.any():
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 2.0)
        [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1].weight.mul_(20.0)
    return save_bundle(target, spec, module.state_dict())


ZOO = (*sorted(TINY), "amnet", "amnet-mean", "amnet-rnn", "amnetvid", "vmemnet")


@pytest.mark.parametrize("config", ZOO)
def test_zoo_architectures_export_within_bounds_or_are_refused_with_the_reason(
    config: str, tmp_path, sample_dir, calibration_dir
) -> None:
    from memo.export.int8_export import export_int8

    bundle = _zoo_bundle(config, tmp_path / config)
    try:
        result = export_int8(bundle, calibration_dir, videos=sample_dir)
    except ExportError as exc:
        assert "int8" in str(exc) and ("does not match" in str(exc) or "has no" in str(exc)), exc
        assert "failed:model.int8.onnx" in _records(bundle) or "has no" in str(exc)
        print(f"{config}: refused: {exc}")
        return
    check = result.record["validation"]
    assert check["passed"] and check["video_max_abs_diff"] <= 0.01 and check["spearman"] >= 0.995
    print(f"{config}: int8 within bounds: {check}")
