"""Recipes (memo/trainer/recipe_api.py): a model's registry entry names how it is trained.

A model defined here, in the test, is registered with ``recipe="video"`` and nothing else of
memo is touched: ``memo train`` trains it, ``memo score`` scores its bundle, ``memo export``
exports it to ONNX, all through the public commands. The recipes are chosen by registry
entry, never by model name, and the trainer's option checks are the recipe's own.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from memo.cli import app
from memo.data.planted import write_planted
from memo.errors import InputError
from memo.models.config import ModelConfig, arg
from memo.models.registry import MODELS, register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.trainer import FitConfig, TrainOptions
from memo.trainer.options import validate
from memo.trainer.recipe_api import recipe_for, trainable_models

NAME = "test-channel-means"


@dataclass(frozen=True)
class ChannelMeansConfig(ModelConfig):
    architecture = NAME

    size: int = arg(16, "frame size", input=True)
    num_frames: int = arg(3, "keyframes per video", input=True)


def channel_means_spec(**args: Any) -> ModelSpec:
    cfg = ChannelMeansConfig.from_args(args)
    size, num_frames = cfg.size, cfg.num_frames
    preprocess = Preprocess(resize=(size,), crop=(size, size), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return ModelSpec(
        name=NAME,
        architecture=NAME,
        version="1",
        arch_args=cfg.arch_args(),
        inputs=(InputSpec(name="frames", stream="keyframes", num_frames=num_frames, preprocess=preprocess),),
        outputs=(OutputSpec("score", "memorability of the frame, in [0, 1]"),),
        unit="frame",
        description="a test's own model: a linear map of each frame's channel means",
    )


class ChannelMeans(nn.Module):
    def __init__(self, **arch_args: Any) -> None:
        ChannelMeansConfig.from_arch_args(arch_args)
        super().__init__()
        self.head = nn.Linear(3, 1)

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": torch.sigmoid(self.head(frames.mean(dim=(2, 3)))).squeeze(1)}


@pytest.fixture(scope="module")
def registered() -> Iterator[str]:
    register_model(
        NAME, spec=channel_means_spec, config=ChannelMeansConfig, paper="none: a test's model", recipe="video"
    )(ChannelMeans)
    try:
        yield NAME
    finally:
        MODELS.remove(NAME)


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_planted(tmp_path_factory.mktemp("planted"), 12, "size", size=24, frames=12, seed=3)


def _invoke(*args: str) -> str:
    done = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    return done.output


def test_a_model_registered_by_a_test_trains_scores_and_exports(
    registered: str, labels: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    _invoke(
        "train", "csv", str(labels), "-o", str(run), "--target", "score", "--model", registered,
        "--val-split", "0.25", "--epochs", "2", "--batch-size", "4", "--device", "cpu",
        "--cache-dir", str(tmp_path / "cache"), "--no-plots", "-q",
    )  # fmt: skip
    config = json.loads((run / "bundle" / "config.json").read_text())
    assert config["architecture"] == registered and config["metadata"]["trained"]["items"] == 12
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"][0]["n_test"] == 3 and "clips_per_second" in metrics["final_model"]["members"][0]

    videos = sorted(labels.parent.glob("*.mp4"))[:3]
    scores = tmp_path / "scores.csv"
    _invoke("score", *map(str, videos), "-m", str(run / "bundle"), "-o", str(scores), "-q", "--device", "cpu")
    rows = list(csv.DictReader(scores.open()))
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert all(0 < float(r["score"]) < 1 and math.isfinite(float(r["score"])) for r in rows)

    out = _invoke("export", str(run / "bundle"), "--onnx", "--videos", str(labels.parent), "--json", "-q")
    (record,) = json.loads(out)
    assert record["validation"]["passed"] and (run / "bundle" / "model.onnx").is_file()


def test_the_recipe_is_the_registry_entrys(registered: str) -> None:
    assert recipe_for(registered).name == "video" and registered in trainable_models()
    assert recipe_for("m3s").name == "m3s" and recipe_for("fusion-mlp").name == "vector-head"


def test_a_recipes_option_checks_apply_to_every_model_it_trains(registered: str, labels: Path) -> None:
    options = TrainOptions(
        "csv", labels, targets=["score"], model=registered, ensemble=2, fit=FitConfig(device="cpu")
    )
    with pytest.raises(InputError, match=f"--model {registered}: --ensemble must be 1"):
        validate(options)


def test_an_architecture_without_a_recipe_is_refused_naming_the_trainable_ones(labels: Path) -> None:
    register_model("test-untrainable", spec=channel_means_spec, config=ChannelMeansConfig)(ChannelMeans)
    try:
        options = TrainOptions("csv", labels, targets=["score"], model="test-untrainable")
        with pytest.raises(InputError, match=r"cannot train this architecture yet \(trainable: .*fusion-mlp"):
            validate(options)
    finally:
        MODELS.remove("test-untrainable")


def test_a_duplicate_architecture_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'m3s' is already registered"):
        register_model("m3s", spec=channel_means_spec, config=ChannelMeansConfig)(ChannelMeans)


VECTOR_NAME = "test-linear-head"


@dataclass(frozen=True)
class LinearHeadConfig(ModelConfig):
    """A vector head declares the recipe keywords it takes (``streams``, ``outputs``, ``means``)."""

    architecture = VECTOR_NAME

    streams: dict[str, dict[str, Any]] = arg({}, "input name -> stream, dim", input=True)
    dims: dict[str, int] | None = arg(None, "input name -> width (from streams)")
    outputs: tuple[str, ...] = arg(("score",), "targets")
    means: tuple[float, ...] | None = arg(None, "initial outputs")
    scale: float = arg(1.0, "multiplies the linear map")


def linear_head_spec(**args: Any) -> ModelSpec:
    """A vector-head model of the test's own: one linear map of the concatenated input vectors."""
    cfg = LinearHeadConfig.from_args(args)
    streams, outputs = cfg.streams, cfg.outputs
    dims = {k: int(v["dim"]) for k, v in streams.items()}
    return ModelSpec(
        name=VECTOR_NAME,
        architecture=VECTOR_NAME,
        version="1",
        arch_args=LinearHeadConfig(dims=dims, outputs=outputs, means=cfg.means, scale=cfg.scale).arch_args(),
        inputs=tuple(InputSpec(name=k, stream=v["stream"], dim=int(v["dim"])) for k, v in streams.items()),
        outputs=tuple(OutputSpec(o, o) for o in outputs),
        unit="video",
        description="a test's own vector head",
    )


class LinearHead(nn.Module):
    def __init__(self, **arch_args: Any) -> None:
        cfg = LinearHeadConfig.from_arch_args(arch_args)
        assert cfg.dims is not None
        dims, outputs, means, scale = cfg.dims, cfg.outputs, cfg.means, cfg.scale
        super().__init__()
        self.names, self.outputs, self.scale = list(dims), list(outputs), scale
        self.linear = nn.Linear(sum(dims.values()), len(outputs))
        with torch.no_grad():
            self.linear.bias.copy_(torch.tensor(means or [0.5] * len(outputs)))

    def fuse(self, vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.linear(torch.cat([vectors[n].float() for n in self.names], dim=1)) * self.scale
        return {o: out[:, i] for i, o in enumerate(self.outputs)}

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.fuse(inputs)


@pytest.fixture(scope="module")
def vector_model() -> Iterator[str]:
    register_model(VECTOR_NAME, spec=linear_head_spec, config=LinearHeadConfig, recipe="vector-head")(
        LinearHead
    )
    try:
        yield VECTOR_NAME
    finally:
        MODELS.remove(VECTOR_NAME)


@pytest.fixture(scope="module")
def feature_labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``labels.csv`` + ``feats/<id>.npy``: the score is a linear function of the features."""
    import numpy as np

    folder = tmp_path_factory.mktemp("vectors")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 6)).astype(np.float32)
    score = 0.5 + 0.1 * (x @ rng.normal(size=6)) / np.sqrt(6)
    (folder / "feats").mkdir()
    for i, row in enumerate(x):
        np.save(folder / "feats" / f"clip{i}.npy", row)
    lines = ["path,score", *(f"clip{i}.mp4,{s:.6f}" for i, s in enumerate(score))]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "labels.csv"


def test_a_vector_head_registered_by_a_test_trains_scores_and_exports(
    vector_model: str, feature_labels: Path, tmp_path: Path
) -> None:
    feats, run = str(feature_labels.parent / "feats"), tmp_path / "run"
    _invoke(
        "train", "csv", str(feature_labels), "-o", str(run), "--target", "score", "--model", vector_model,
        "--input", "features", "--features", feats, "--model-arg", "scale=2.0", "--val-split", "0.25",
        "--epochs", "60", "--lr", "1e-2", "--batch-size", "32", "--device", "cpu", "--no-plots", "-q",
    )  # fmt: skip
    config = json.loads((run / "bundle" / "config.json").read_text())
    assert config["architecture"] == vector_model and config["arch_args"]["scale"] == 2.0
    assert config["arch_args"]["dims"] == {"features": 6}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"][0]["score"]["spearman"] > 0.9, metrics["folds"][0]["score"]

    scores = tmp_path / "scores.csv"
    _invoke(
        "score", "-m", str(run / "bundle"), "--features", feats, "-o", str(scores), "-q", "--device", "cpu"
    )
    rows = {Path(r["path"]).stem: r for r in csv.DictReader(scores.open())}
    assert len(rows) == 160 and all(r["status"] == "ok" for r in rows.values())
    # a table's ids are canonical video keys (clip7.mp4 -> 7, memo.data.features)
    labels = {
        ln.split(",")[0][4:-4]: float(ln.split(",")[1]) for ln in feature_labels.read_text().split()[1:]
    }
    ids = sorted(labels)
    assert set(rows) == set(ids)
    predicted = torch.tensor([float(rows[i]["score"]) for i in ids])
    truth = torch.tensor([labels[i] for i in ids])
    assert torch.corrcoef(torch.stack([predicted, truth]))[0, 1] > 0.95

    out = _invoke("export", str(run / "bundle"), "--onnx", "--features", feats, "--json", "-q")
    (record,) = json.loads(out)
    assert record["validation"]["passed"] and (run / "bundle" / "model.onnx").is_file()


def test_a_vector_heads_options_are_checked_against_its_spec(vector_model: str, feature_labels: Path) -> None:
    def options(**changes: object) -> TrainOptions:
        return TrainOptions("csv", feature_labels, targets=["score"], model=vector_model, inputs=["features"],
                            features=feature_labels.parent / "feats", **changes)  # type: ignore[arg-type]  # fmt: skip

    assert recipe_for(vector_model).name == "vector-head" and vector_model in trainable_models()
    with pytest.raises(InputError, match="--ensemble must be 1"):
        validate(options(ensemble=2))
    with pytest.raises(InputError, match="--model-arg members: set by memo train's own options"):
        validate(options(model_args={"members": 2}))
