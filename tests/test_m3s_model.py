"""M3-S: spec, fitted transforms as tensors, bundle round trip, contributions, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("cv2")
pytest.importorskip("sklearn")

from memo.data.m3s_planted import write_planted
from memo.models.bundle import read_bundle, save_bundle
from memo.models.m3s import m3s_spec
from memo.models.m3s_contrib import module_contributions
from memo.models.m3s_fit import fit_m3s, spec_with_fit
from memo.models.registry import create_model, list_models
from memo.models.spec import ModelSpec
from tests.exporthelp import copy_bundle
from tests.m3shelp import train_head, video_inputs

TINY = {
    "low_size": 32,
    "low_frames": 3,
    "mid_frames": 2,
    "clip_frames": 4,
    "clip_fps": 8.0,
    "hidden": (32, 16),
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("m3s")
    videos = write_planted(folder / "videos", 16, frames=8, seed=3)
    spec = m3s_spec(temporal_std=True, **TINY)
    inputs = video_inputs(spec, [str(v.path) for v in videos])
    model = create_model("m3s", **spec.arch_args)
    with torch.no_grad():
        raw = model.raw_vectors(inputs)
    fit = fit_m3s(model, raw, min_samples=2)
    targets = torch.tensor([v.label for v in videos], dtype=torch.float32)
    train_head(model, raw, targets, epochs=100)
    spec = spec_with_fit(spec, fit)
    bundle = save_bundle(folder / "bundle", spec, model.state_dict())
    yield {"spec": spec, "model": model, "inputs": inputs, "raw": raw, "fit": fit, "bundle": bundle}
    torch.set_num_threads(threads)


def test_registered_and_spec_round_trips_through_json():
    assert "m3s" in list_models()
    spec = m3s_spec(modules=("low", "similarity"), similarity_over=("mid",), **TINY)
    assert [(i.name, i.stream) for i in spec.inputs] == [("lowlevel", "lowlevel"), ("mid", "keyframes")]
    assert spec.inputs[0].dim == 324 + 5 and spec.inputs[0].num_frames == 3
    assert ModelSpec.from_json(spec.to_json()) == spec
    pre = m3s_spec(
        modules=("mid", "high"), mid={"stream": "features", "dim": 80}, high={"stream": "text", "dim": 384}
    )
    assert [(i.name, i.stream, i.dim) for i in pre.inputs] == [("mid", "features", 80), ("high", "text", 384)]
    logged = create_model(
        "m3s", **m3s_spec(modules=("mid",), mid={"stream": "features", "dim": 3, "log": True}).arch_args
    )
    x = torch.tensor([[0.0, 1.0, 10.0]])
    torch.testing.assert_close(logged.raw_vectors({"mid": x})["mid"], torch.log(x + 1e-3))
    with pytest.raises(ValueError, match=r"similarity\.over"):
        m3s_spec(modules=("low", "similarity"), similarity_over=("color",))


def test_unfitted_model_refuses_to_predict():
    spec = m3s_spec(modules=("mid",), mid={"stream": "features", "dim": 4})
    model = create_model("m3s", **spec.arch_args)
    with pytest.raises(RuntimeError, match="not fitted"):
        model(mid=torch.zeros(2, 4))


def test_fitted_transforms_are_tensors_that_whiten_the_training_set(fitted):
    model, raw, fit = fitted["model"], fitted["raw"], fitted["fit"]
    assert all(isinstance(v, torch.Tensor) for v in fit.tensors.values())
    low = raw["low"]
    dh = model.low["hog_dim"]
    rows = low[..., :dh].reshape(-1, dh)
    scores = (rows - fit.tensors["low_hog_mean"]) @ fit.tensors["low_hog_proj"].t()
    np.testing.assert_allclose(scores.mean(0).numpy(), 0, atol=1e-3)
    np.testing.assert_allclose(scores.std(0, correction=1).numpy(), 1, atol=1e-2)  # whitened
    vectors = model.tier_vectors(raw)
    np.testing.assert_allclose(vectors["low"].mean(0).numpy(), 0, atol=1e-4)


def test_training_videos_get_their_own_dbscan_cluster_in_eval_mode(fitted):
    model, raw, fit = fitted["model"], fitted["raw"], fitted["fit"]
    model.eval()
    with torch.no_grad():
        blocks = model.head_blocks(raw)["similarity"]
    offset = 0
    for src in ("mid", "high"):
        classes = fit.sizes["clusters"][src] + 1
        onehot = blocks[:, offset : offset + classes]
        assert (onehot.sum(1) == 1).all()
        assert torch.equal(onehot.argmax(1), fit.tensors[f"sim_{src}_labels"])
        offset += classes + 1  # one-hot, then the kNN column
    assert sum(fit.sizes["clusters"].values()) >= 2, "too few clusters for the test to mean anything"


def test_bundle_rebuilds_the_same_model(fitted):
    bundle = read_bundle(fitted["bundle"].path)
    module = bundle.build_module()
    fitted["model"].eval()
    with torch.no_grad():
        want = fitted["model"](**fitted["inputs"])["score"]
        got = module(**fitted["inputs"])["score"]
    torch.testing.assert_close(got, want)
    assert want.std() > 1e-3


def test_contributions_follow_the_head(fitted):
    model, raw = fitted["model"], fitted["raw"]
    result = module_contributions(model, raw, raw=True)["score"]
    assert set(result) == {"prediction", "low", "mid", "high", "similarity"}
    assert all(v.shape == (16,) for v in result.values())
    assert any(result[t].abs().max() > 1e-4 for t in ("low", "mid", "high", "similarity"))
    hook = model.contributions(**{k: v[:3] for k, v in fitted["inputs"].items()})["score"]
    torch.testing.assert_close(hook["low"], result["low"][:3])
    # A tier the head ignores contributes exactly nothing.
    blocks = model.head_blocks(raw)
    start = blocks["low"].shape[1]
    end = start + blocks["mid"].shape[1]
    saved = model.head[0].weight.detach().clone()
    with torch.no_grad():
        model.head[0].weight[:, start:end] = 0
    try:
        again = module_contributions(model, raw, raw=True)["score"]
        assert again["mid"].abs().max() == 0
        assert again["low"].abs().max() > 0
    finally:
        with torch.no_grad():
            model.head[0].weight.copy_(saved)


def test_onnx_export_matches_pytorch_with_pca_and_clusters_in_the_graph(fitted, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from memo.export import export_onnx
    from memo.runtime.base import load_session

    bundle = copy_bundle(fitted["bundle"], tmp_path / "m3s")
    result = export_onnx(bundle, batch="1:2:4", sample_count=5)
    check = result.validation
    assert check.passed and check.max_abs_diff <= 1e-4
    assert check.spearman is not None and check.spearman >= 0.999
    ops = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert {"ArgMin", "Gather", "Equal", "TopK", "MatMul"} <= ops  # 1-NN cluster, one-hot, kNN, PCA
    torch_session = load_session(bundle, "torch", "cpu")
    onnx_session = load_session(bundle, "onnx", "cpu")
    batch = {k: v[:4].numpy() for k, v in fitted["inputs"].items()}  # the training videos themselves
    np.testing.assert_allclose(
        onnx_session.run(batch)["score"], torch_session.run(batch)["score"], atol=1e-4, rtol=0
    )


def test_the_training_engine_trains_m3s_on_cached_tier_vectors(fitted):
    from memo.trainer.engine import FitConfig, SplitData, fit, predict

    spec = m3s_spec(modules=("low", "similarity"), similarity_over=("mid",), **TINY)
    model = create_model("m3s", **spec.arch_args)
    raw = {k: fitted["raw"][k] for k in ("low", "mid")}
    fit_m3s(model, raw, min_samples=2)
    targets = {"score": torch.linspace(0.6, 0.95, 16)}
    data = SplitData(vectors=raw, targets=targets)
    cfg = FitConfig(
        epochs=30, batch_size=8, lr=3e-3, weight_decay=1e-5, loss="mse-tails", schedule="constant"
    )
    state, best = fit(model, data, None, cfg, torch.Generator().manual_seed(0))
    history = [h["train_loss"] for h in state.history]
    assert history[-1] < history[0]
    model.load_state_dict(best)
    assert predict(model, raw)["score"].shape == (16,)


def test_high_tier_runs_a_torchvision_r3d_18_with_user_weights(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    from memo.data.video_features import backbone_state

    torch.manual_seed(0)
    reference = torchvision.models.video.r3d_18(weights=None).eval()
    weights = tmp_path / "r3d_18.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(weights))
    spec = m3s_spec(modules=("high",), high="torchvision:r3d_18", clip_frames=4)
    assert spec.arch_args["high"] == {"trunk": "torchvision:r3d_18", "dim": 512}
    assert spec.input("high").stream == "clip" and spec.input("high").preprocess.crop == (112, 112)
    model = create_model("m3s", **spec.arch_args)
    model.load_trunk("high", backbone_state("torchvision:r3d_18", weights))
    clip = torch.rand(2, 3, 4, 112, 112)
    with torch.no_grad():
        got = model.raw_vectors({"high": clip})["high"]
        reference.fc = torch.nn.Identity()
        torch.testing.assert_close(got, reference(clip))


def test_bad_fit_inputs_and_lowlevel_specs_fail_with_one_line():
    from memo.errors import BundleError
    from memo.models.spec import InputSpec

    spec = m3s_spec(modules=("low", "similarity"), similarity_over=("mid",), **TINY)
    model = create_model("m3s", **spec.arch_args)
    with pytest.raises(ValueError, match=r"no raw vectors for tier\(s\) \['mid'\]"):
        fit_m3s(model, {"low": torch.rand(12, 3, 329)})
    with pytest.raises(ValueError, match="non-finite"):
        fit_m3s(model, {"low": torch.full((12, 3, 329), float("nan")), "mid": torch.rand(12, 32)})
    with pytest.raises(BundleError, match="lowlevel input needs"):
        InputSpec("lowlevel", "lowlevel", num_frames=3)


def test_large_training_sets_cluster_a_subset_and_label_the_rest_by_nearest_neighbour():
    from memo.models.m3s_fit import cluster_labels

    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 10, [12.0] * 10, [-12.0] * 10])
    points = np.concatenate([c + rng.normal(size=(30, 10)) for c in centres]).astype(np.float32)
    labels, _eps, seen = cluster_labels(points, None, 3, max_tsne=45, seed=0)
    assert seen == 45 and labels.shape == (90,)
    for blob in range(3):  # each blob is one cluster, shared by subset and propagated points
        part = labels[30 * blob : 30 * (blob + 1)]
        assert (part == np.bincount(part[part >= 0]).argmax()).mean() >= 0.8
    assert len(set(labels[labels >= 0])) >= 3


def test_memo_score_runs_an_m3s_bundle_on_real_videos(fitted, tmp_path):
    import csv

    from memo.score.runner import ScoreOptions, score_videos
    from tests.conftest import shared_video

    videos = [str(shared_video(n)) for n in ("carphone_pristine.mp4", "bikes_vp9.webm", "bikes_portrait.mov")]
    output = tmp_path / "scores.csv"
    summary = score_videos(
        ScoreOptions(
            videos, output, model=str(fitted["bundle"].path), device="cpu", workers=1, decoder="pyav"
        )
    )
    assert summary.failed == 0
    with output.open(newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    model = fitted["model"].eval()
    for path in videos:
        inputs = video_inputs(fitted["spec"], [path])
        with torch.no_grad():
            want = float(model(**inputs)["score"][0])
        assert rows[path]["status"] == "ok"
        assert float(rows[path]["score"]) == pytest.approx(want, abs=1e-5)


def test_mid_tier_runs_resmem_with_the_package_weights_like_memos_resmem_embedder():
    """The real mid trunk (ResMem, weights from the ``resmem`` package) on a real video: the tier's
    raw vector is the mean of ResMem's per-frame embeddings, as memo's own video embedder computes it."""
    pytest.importorskip("resmem")
    from memo.data.inputs import prepare_video
    from memo.data.video_features import VideoEmbedder, backbone_state
    from tests.conftest import shared_video

    path = str(shared_video("carphone_pristine.mp4"))
    spec = m3s_spec(modules=("mid",), mid="resmem", mid_frames=2)
    model = create_model("m3s", **spec.arch_args)
    model.load_trunk("mid", backbone_state("resmem"))
    frames = torch.as_tensor(prepare_video(path, spec).arrays["mid"])
    with torch.no_grad():
        got = model.raw_vectors({"mid": frames})["mid"][0]
    want = VideoEmbedder.create("resmem", num_frames=2).embed(path)
    assert got.shape == (256,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
