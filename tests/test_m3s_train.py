"""M3-S through ``memo train`` (generated videos), its configs, ``memo score --explain`` and ``memo explain``."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from memo.cli import app
from memo.data.m3s_planted import write_planted
from memo.errors import InputError
from memo.explain import ExplainOptions, explain_videos
from memo.trainer import FitConfig, TrainOptions, train
from memo.trainer.losses import LossContext, get_loss
from memo.trainer.options import read_config, validate

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = {"mid": "tiny", "low_size": 32, "low_frames": 3, "mid_frames": 2, "min_samples": 2}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("m3strain")
    planted = write_planted(folder / "videos", 24, size=32, frames=6, seed=3)
    lines = ["path,score"] + [f"{Path(v.path).name},{v.label:.6f}" for v in planted]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _options(folder: Path, out: Path, modules: str, **changes) -> TrainOptions:  # type: ignore[no-untyped-def]
    values = {
        "dataset": "csv", "data": folder / "labels.csv", "videos": folder / "videos", "output": out,
        "targets": ["score"], "inputs": ["keyframes"], "model": "m3s",
        "model_args": {"modules": modules, **TINY}, "val_split": 0.25, "plots": False,
        "fit": FitConfig(epochs=3, batch_size=8, lr=1e-3, loss="mse-to-spearman", device="cpu"),
    }  # fmt: skip
    values.update(changes)
    return TrainOptions(**values)


@pytest.fixture(scope="module")
def trained(videos: Path) -> Path:
    result = train(_options(videos, videos / "run", "low,mid,similarity"))
    assert result.bundle is not None
    return result.bundle


def test_memo_train_m3s_writes_a_fitted_bundle_fitted_on_all_items(trained: Path, videos: Path) -> None:
    config = json.loads((trained / "config.json").read_text())
    assert config["architecture"] == "m3s"
    assert config["arch_args"]["modules"] == ["low", "mid", "similarity"]
    assert config["arch_args"]["similarity"]["over"] == ["low", "mid"]  # default: every other tier
    assert config["metadata"]["m3s_fit"]["videos"] == 24  # the final bundle: every labelled item
    metrics = json.loads((trained.parent / "metrics.json").read_text())
    assert metrics["folds"][0]["n_test"] == 6
    assert math.isfinite(metrics["folds"][0]["score"]["spearman"])


def test_fold_transforms_are_fitted_on_the_training_part_only(videos: Path, tmp_path: Path) -> None:
    from memo.trainer.m3s_recipe import m3s_member
    from memo.trainer.prepare import prepare

    options = _options(videos, tmp_path / "x", "low,similarity")
    validate(options)
    prepared = prepare(options)
    assert prepared.vectors is not None
    part = prepared.splits[0].train[:12]
    torch.manual_seed(0)
    assert prepared.spec is not None
    model = m3s_member(options, prepared.spec, prepared.vectors, part)
    assert model.memo_spec.metadata["m3s_fit"]["videos"] == 12
    bank = model.get_buffer("sim_low_bank")
    assert bank.shape[0] == 12


def test_m3s_options_are_checked_before_any_work(videos: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown m3s argument"):
        validate(_options(videos, tmp_path / "y", "low", model_args={"modules": "low", "colour": 1}))
    with pytest.raises(InputError, match="bad modules"):
        validate(_options(videos, tmp_path / "y", "low", model_args={"modules": "low,texture"}))
    with pytest.raises(InputError, match="--input features"):
        validate(_options(videos, tmp_path / "y", "mid", model_args={"modules": "mid", "mid": "features"}))
    with pytest.raises(InputError, match="fusion-mlp options"):
        validate(_options(videos, tmp_path / "y", "low", decay_alpha=True))
    with pytest.raises(InputError, match="--dropout is a fusion-mlp option; use --model-arg dropout=P"):
        validate(_options(videos, tmp_path / "y", "low", dropout=0.3))
    with pytest.raises(
        InputError, match=r"input_dropout \(a config key\) is a fusion-mlp option; use --model-arg"
    ):
        validate(_options(videos, tmp_path / "y", "low", input_dropout=0.2))  # there is no --input-dropout
    with pytest.raises(InputError, match="dropout"):
        validate(_options(videos, tmp_path / "y", "low", model_args={"modules": "low", "dropout": 1.5}))
    with pytest.raises(
        InputError, match=r"^--model-arg: m3s argument 'knn_k' must be int, got 'five' \(str\)$"
    ):
        validate(_options(videos, tmp_path / "y", "low", model_args={"modules": "low", "knn_k": "five"}))


def test_m3s_configs_load_and_validate() -> None:
    names = sorted(p.name for p in CONFIGS.glob("*m3s*.toml"))
    assert len(names) >= 6
    for name in names:
        options = TrainOptions(**read_config(CONFIGS / name))
        assert options.model == "m3s"
        assert "modules" in options.model_args
        folders = [e for e in _encoder_list(options) if "/" in e]  # a local encoder folder (mpnet)
        if any(not Path(folder).is_dir() for folder in folders):
            # not made on this machine (scripts/mpnet_from_pypi.py): refused with one line naming it
            with pytest.raises(InputError, match="all-mpnet-base-v2"):
                validate(options)
            continue
        validate(options)
    vm = TrainOptions(**read_config(CONFIGS / "videomem-short-m3s-sim.toml"))
    assert vm.model_args["modules"] == "mid,high,similarity" and vm.fit.loss == "mse-to-spearman"
    assert vm.fold_file is not None and vm.fold_file.name == "vmemnet_fold_permutation.bin"


def _encoder_list(options: TrainOptions) -> list[str]:
    return [options.text_encoder] if isinstance(options.text_encoder, str) else list(options.text_encoder)


def test_score_explain_adds_one_column_per_module(trained: Path, videos: Path, tmp_path: Path) -> None:
    clips = sorted((videos / "videos").glob("*.mp4"))[:3]
    out = tmp_path / "scores.csv"
    args = [
        "score",
        *map(str, clips),
        "-m",
        str(trained),
        "-o",
        str(out),
        "--explain",
        "-q",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "ok"
        values = [float(row[f"contrib_{t}"]) for t in ("low", "mid", "similarity")]
        assert all(math.isfinite(v) for v in values)
    assert any(abs(float(r["contrib_low"])) > 0 for r in rows)
    plain = CliRunner().invoke(
        app, ["score", str(clips[0]), "-m", str(trained), "-o", str(tmp_path / "p.csv"), "-q"]
    )
    assert plain.exit_code == 0 and "contrib_low" not in (tmp_path / "p.csv").read_text().splitlines()[0]
    refused = CliRunner().invoke(
        app, ["score", str(clips[0]), "-o", str(tmp_path / "r.csv"), "--explain", "-q"]
    )
    assert refused.exit_code != 0 and "contributions" in refused.output


def test_explain_draws_a_contribution_chart_without_frames_input(videos: Path) -> None:
    low = train(_options(videos, videos / "low-run", "low")).bundle  # only the lowlevel input: no frames
    assert low is not None
    assert [i["stream"] for i in json.loads((low / "config.json").read_text())["inputs"]] == ["lowlevel"]
    clip = str(sorted((videos / "videos").glob("*.mp4"))[0])
    [result] = explain_videos(ExplainOptions([clip], videos / "explained", model=str(low)))
    assert result.error is None and result.folder is not None
    chart = result.folder / "contributions_score.png"
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 40
        pixels = np.asarray(image.convert("RGB"))
    assert (pixels != 255).any()  # something is drawn
    scores = json.loads((result.folder / "scores.json").read_text())
    assert set(scores["contributions"]["score"]) == {"low"}
    assert not (result.folder / "contact_sheet.png").exists()
    cli = CliRunner().invoke(
        app, ["explain", clip, "-m", str(low), "-o", str(videos / "explained-cli"), "--json"]
    )
    assert cli.exit_code == 0, cli.output
    assert (videos / "explained-cli" / Path(clip).name / "contributions_score.png").is_file()


def test_explain_on_m3s_with_frames_writes_chart_and_sheet(trained: Path, videos: Path) -> None:
    clip = str(sorted((videos / "videos").glob("*.mp4"))[1])
    [result] = explain_videos(ExplainOptions([clip], videos / "explained2", model=str(trained)))
    assert result.error is None and result.folder is not None
    assert (result.folder / "contact_sheet.png").exists()
    contribs = json.loads((result.folder / "scores.json").read_text())["contributions"]["score"]
    assert set(contribs) == {"low", "mid", "similarity"}
    Image.open(result.folder / "contributions_score.png").verify()


def test_soft_rank_temperature_reaches_the_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.rand(128, generator=gen), torch.rand(128, generator=gen)
    loss = get_loss("spearman")
    sharp = loss(pred, target, LossContext(0, 2, 0.5, tau=1e-4))
    soft = loss(pred, target, LossContext(0, 2, 0.5, tau=1.0))
    assert not torch.isclose(sharp, soft)
    pred.requires_grad_(True)
    mixed = get_loss("mse-to-spearman")(pred, target, LossContext(1, 2, 0.5, tau=0.01))
    mixed.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_a_resumed_m3s_head_matches_an_uninterrupted_one(videos: Path, tmp_path: Path) -> None:
    """The fold's transforms are refitted identically on resume, then the checkpoint is loaded."""
    from dataclasses import replace

    from memo.trainer.checkpoint import Checkpoint
    from memo.trainer.prepare import prepare
    from memo.trainer.vector_recipe import train_member

    options = _options(videos, tmp_path / "z", "low,similarity")
    options.fit = replace(options.fit, schedule="constant", patience=0, loss="mse")  # no epoch-count terms
    validate(options)
    prepared = prepare(options)
    index = prepared.splits[0].train
    cfg3 = replace(options.fit, epochs=3)
    straight, _ = train_member("p", options, prepared, index, None, cfg3, 7, Checkpoint(tmp_path / "a"))
    ckpt = Checkpoint(tmp_path / "b")
    train_member("p", options, prepared, index, None, replace(options.fit, epochs=2), 7, ckpt)
    resumed_ckpt = Checkpoint(tmp_path / "b")
    resumed_ckpt.load()
    resumed, state = train_member("p", options, prepared, index, None, cfg3, 7, resumed_ckpt)
    assert state.epoch == 3 and len(state.history) == 3
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)


def test_an_m3s_ensemble_bundle_averages_heads_that_share_one_set_of_transforms(
    videos: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    from memo.data.inputs import prepare_video
    from memo.models.bundle import read_bundle
    from memo.models.registry import create_model

    options = _options(videos, tmp_path / "ens", "low,mid,similarity", ensemble=2)
    options.model_args |= {"dropout": 0.3, "input_dropout": 0.1}
    options.fit = replace(options.fit, loss="spearman", rank_tau=0.1)  # a calibrated bundle, too
    result = train(options)
    assert result.bundle is not None
    bundle = read_bundle(result.bundle)
    assert bundle.spec.arch_args["heads"] == 2 and bundle.spec.arch_args["dropout"] == [0.1, 0.3]
    model = bundle.build_module().eval()
    state = model.state_dict()
    video = str(next((videos / "videos").iterdir()))
    arrays = prepare_video(video, bundle.spec).arrays
    inputs = {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}
    singles = []
    for i in range(2):  # each member rebuilt on its own from the shared buffers and its head
        args = {k: v for k, v in bundle.spec.arch_args.items() if k != "heads"}
        single = create_model("m3s", **args).eval()
        own = {k: v for k, v in state.items() if not k.startswith("head.")}
        own |= {
            f"head.{k.removeprefix(f'head.{i}.')}": v for k, v in state.items() if k.startswith(f"head.{i}.")
        }
        single.load_state_dict(own, strict=True)
        with torch.no_grad():
            singles.append(single(**inputs)["score"])
    with torch.no_grad():
        averaged = model(**inputs)["score"]
    torch.testing.assert_close(averaged, (singles[0] + singles[1]) / 2)
    assert not torch.equal(singles[0], singles[1])  # two independently trained heads
    if importlib.util.find_spec("onnxruntime") is not None:  # heads and calibration in the graph
        from memo.export import export_onnx

        check = export_onnx(bundle, batch="1:2:4", sample_count=4).validation
        assert check.passed and check.max_abs_diff <= 1e-4


def test_m3s_head_dropout_is_checked_and_only_active_in_training() -> None:
    from memo.models.m3s import m3s_spec

    with pytest.raises(ValueError, match="dropout"):
        m3s_spec(modules=("mid",), mid={"stream": "features", "dim": 4}, dropout=1.0)
    assert (
        "dropout" not in m3s_spec(modules=("mid",), mid={"stream": "features", "dim": 4}).arch_args
    )  # the paper's head


def test_caption_sampling_acts_on_the_m3s_tier_fed_by_text(tmp_path: Path) -> None:
    from memo.trainer.prepare import Vectors
    from memo.trainer.vector_recipe import split_data

    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    owner = np.array([0, 0, 1, 1, 2, 2])
    vectors = Vectors({"high": np.zeros((3, 2), np.float32)}, (rows, owner), {}, caption_key="high")

    class Data:
        def __init__(self) -> None:
            self.targets = {"score": np.zeros(3, np.float32)}

        def __len__(self) -> int:
            return 3

    data = split_data(vectors, Data(), ["score"], np.array([0, 2]), "cpu")  # type: ignore[arg-type]
    assert data.caption_input == "high"
    assert data.caption_owner is not None and data.caption_owner.tolist() == [0, 0, 1, 1]


def test_a_rank_trained_bundle_is_calibrated_onto_the_label_scale_with_ranks_kept(
    videos: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    from memo.models.bundle import read_bundle
    from memo.models.registry import create_model
    from memo.trainer.prepare import prepare

    options = _options(videos, tmp_path / "rank", "low,mid")
    options.fit = replace(options.fit, loss="spearman", rank_tau=0.1, epochs=4)
    result = train(options)
    assert result.bundle is not None
    bundle = read_bundle(result.bundle)
    assert bundle.spec.arch_args["calibrated"] is True and "calibration" in bundle.spec.metadata
    model = bundle.build_module().eval()
    validate(options)
    prepared = prepare(options)
    assert prepared.vectors is not None
    raw = {k: torch.from_numpy(v).float() for k, v in prepared.vectors.per_item.items()}
    args = {k: v for k, v in bundle.spec.arch_args.items() if k != "calibrated"}
    plain = create_model("m3s", **args).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("out_")})
    with torch.no_grad():
        calibrated = model.head_from_raw(raw)["score"].numpy()
        uncalibrated = plain.head_from_raw(raw)["score"].numpy()
    labels = prepared.data.targets["score"]
    assert calibrated.mean() == pytest.approx(labels.mean(), abs=1e-4)  # least squares keeps the mean
    assert np.array_equal(np.argsort(calibrated), np.argsort(uncalibrated))  # the order is the head's
    assert float(model.get_buffer("out_scale")[0]) > 0
