"""M3-S on generated videos with a planted signal (memo.data.m3s_planted): brightness, blur, motion
speed, and being a colour outlier among the training videos (same luma, so invisible to the
low tier). Trained on 120 videos, scored on 40 held-out ones, on the CPU in well under a minute.

The ablation: the low tier alone explains the brightness/blur/speed part but nothing of the
outlier part; adding the similarity tier (distinctiveness over the mid-tier trunk's
embedding) recovers it — its features flag held-out outliers without seeing a label, and its
contribution to the prediction is large on outliers and ~0 on ordinary videos.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("cv2")
pytest.importorskip("sklearn")

from memo.data.m3s_planted import write_planted
from memo.export.parity import spearman
from memo.models.m3s import M3S, m3s_spec
from memo.models.m3s_contrib import module_contributions
from memo.models.m3s_fit import fit_m3s
from memo.models.registry import create_model
from tests.m3shelp import train_head, video_inputs

BASE = {"low_size": 64, "low_frames": 4, "mid_frames": 3, "similarity_over": ("mid",)}
TRAIN = 120


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: threads only contend
    videos = write_planted(tmp_path_factory.mktemp("planted"), 160, seed=1)
    spec = m3s_spec(modules=("low", "mid", "similarity"), **BASE)
    inputs = video_inputs(spec, [str(v.path) for v in videos])
    yield videos, inputs
    torch.set_num_threads(threads)


def _train(planted, modules: tuple[str, ...]) -> tuple[M3S, dict[str, torch.Tensor]]:
    videos, inputs = planted
    spec = m3s_spec(modules=modules, **BASE)
    model = create_model("m3s", **spec.arch_args)
    with torch.no_grad():
        raw = model.raw_vectors({i.name: inputs[i.name] for i in spec.inputs})
    train = {k: v[:TRAIN] for k, v in raw.items()}
    fit_m3s(model, train)
    targets = torch.tensor([v.label for v in videos[:TRAIN]], dtype=torch.float32)
    train_head(model, train, targets)
    return model, {k: v[TRAIN:] for k, v in raw.items()}


def _outlier_residual_corr(prediction: np.ndarray, videos) -> float:
    """Correlation of the outlier flag with what the known low-level causes leave unexplained."""
    logit = np.log(prediction / (1 - prediction))
    causes = np.array([[v.brightness, v.blur, v.speed, 1.0] for v in videos])
    coef, *_ = np.linalg.lstsq(causes, logit, rcond=None)
    flags = np.array([v.outlier for v in videos], dtype=float)
    return float(np.corrcoef(logit - causes @ coef, flags)[0, 1])


def test_m3s_learns_the_planted_signal_and_similarity_captures_the_outliers(planted):
    videos = planted[0]
    held_out = videos[TRAIN:]
    labels = [v.label for v in held_out]
    outliers = np.array([v.outlier for v in held_out])
    assert 5 <= outliers.sum() <= 15 and 12 <= sum(v.outlier for v in videos[:TRAIN]) <= 30

    results = {}
    for modules in [("low",), ("low", "similarity"), ("low", "mid", "similarity")]:
        model, test = _train(planted, modules)
        contrib = module_contributions(model, test, raw=True)["score"]
        prediction = contrib["prediction"].numpy()
        results[modules] = (model, test, contrib, spearman(prediction, labels))

    full_rho = results[("low", "mid", "similarity")][3]
    assert full_rho is not None and full_rho >= 0.8, f"held-out Spearman {full_rho}"
    low_rho = results[("low",)][3]
    sim_rho = results[("low", "similarity")][3]
    assert sim_rho is not None and low_rho is not None and sim_rho >= 0.8 and sim_rho > low_rho

    # Ablation: the low tier explains nothing of the outlier part, similarity does.
    low_corr = _outlier_residual_corr(results[("low",)][2]["prediction"].numpy(), held_out)
    sim_corr = _outlier_residual_corr(results[("low", "similarity")][2]["prediction"].numpy(), held_out)
    assert abs(low_corr) < 0.25 and sim_corr > low_corr + 0.25, (low_corr, sim_corr)

    # The similarity tier's own contribution is what lifts the outliers.
    sim_contrib = results[("low", "similarity")][2]["similarity"].numpy()
    assert sim_contrib[outliers].mean() > sim_contrib[~outliers].mean() + 0.1

    # Its kNN feature ranks held-out outliers above ordinary videos without any label.
    model, test = results[("low", "similarity")][:2]
    model.eval()
    with torch.no_grad():
        knn = model.head_blocks(test)["similarity"][:, -1].numpy()
    wins = (knn[outliers][:, None] > knn[~outliers][None, :]).mean()  # ROC AUC
    assert wins > 0.85, f"kNN AUC {wins:.3f}"
