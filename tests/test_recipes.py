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
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from memo.cli import app
from memo.data.planted import write_planted
from memo.errors import InputError
from memo.models.registry import MODELS, register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.trainer import FitConfig, TrainOptions
from memo.trainer.options import validate
from memo.trainer.recipe_api import recipe_for, trainable_models

NAME = "test-channel-means"


def channel_means_spec(size: int = 16, num_frames: int = 3) -> ModelSpec:
    preprocess = Preprocess(resize=(size,), crop=(size, size), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return ModelSpec(
        name=NAME,
        architecture=NAME,
        version="1",
        arch_args={},
        inputs=(InputSpec(name="frames", stream="keyframes", num_frames=num_frames, preprocess=preprocess),),
        outputs=(OutputSpec("score", "memorability of the frame, in [0, 1]"),),
        unit="frame",
        description="a test's own model: a linear map of each frame's channel means",
    )


class ChannelMeans(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 1)

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": torch.sigmoid(self.head(frames.mean(dim=(2, 3)))).squeeze(1)}


@pytest.fixture(scope="module")
def registered() -> Iterator[str]:
    register_model(NAME, spec=channel_means_spec, paper="none: a test's model", recipe="video")(ChannelMeans)
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
    register_model("test-untrainable", spec=channel_means_spec)(ChannelMeans)
    try:
        options = TrainOptions("csv", labels, targets=["score"], model="test-untrainable")
        with pytest.raises(InputError, match=r"cannot train this architecture yet \(trainable: .*fusion-mlp"):
            validate(options)
    finally:
        MODELS.remove("test-untrainable")


def test_a_duplicate_architecture_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'m3s' is already registered"):
        register_model("m3s", spec=channel_means_spec)(ChannelMeans)
