"""Fit M3-S's training-set transforms (NumPy / scikit-learn) and return them as tensors.

Called once on the training set before the head is trained::

    model = create_model("m3s", **spec.arch_args)            # unfitted
    raw = model.raw_vectors(train_inputs)                     # or cached, concatenated
    fit = fit_m3s(model, raw)                                 # installs the buffers + head
    spec = spec_with_fit(spec, fit)                           # sizes into arch_args["fitted"]

What is fitted (all on the training videos only):

* HOG PCA (whitened, ``components``) on the sampled frames' HOG — the released code fits it
  on the first frame of each training video; here on every sampled frame, or one random
  frame per video when that would exceed ``max_rows`` rows;
* mean / std of the pooled low-level vector and of the mid / high vectors;
* per similarity source: PCA (``components``, whitened) of the standardised vector, t-SNE
  (3-D) of the training set (of ``max_tsne`` of its videos at most, see :func:`cluster_labels`), DBSCAN on the t-SNE map (``eps`` by default the median distance
  to the ``min_samples``-th neighbour in that map; the released code used fixed values
  (0.9, 1.25) tuned on its datasets), the bank of training points in the PCA space with
  their cluster labels (noise = last class), and mean / std of the leave-one-out kNN measure;
* the training mean of each head block (used by :mod:`memo.models.m3s_contrib`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from memo.models.m3s import M3S, pool_lowlevel
from memo.models.spec import ModelSpec

log = logging.getLogger(__name__)


@dataclass
class M3SFit:
    tensors: dict[str, torch.Tensor]
    sizes: dict[str, Any]  # goes into arch_args["fitted"]
    report: dict[str, Any] = field(default_factory=dict)


def _pca(x: np.ndarray, components: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Whitened PCA as ``(center, proj)`` with ``(x - center) @ proj.T`` the whitened scores."""
    from sklearn.decomposition import PCA

    if x.shape[0] <= components:
        raise ValueError(f"PCA({components}) needs more than {components} training rows, got {x.shape[0]}")
    pca = PCA(n_components=components, random_state=seed).fit(x.astype(np.float64))
    scale = np.sqrt(np.maximum(pca.explained_variance_, 1e-12))
    return pca.mean_.astype(np.float32), (pca.components_ / scale[:, None]).astype(np.float32)


def _stats(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    std = x.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    return torch.from_numpy(x.mean(0).astype(np.float32)), torch.from_numpy(std.astype(np.float32))


def _hog_rows(low: np.ndarray, hog_dim: int, max_rows: int, seed: int) -> np.ndarray:
    n, t = low.shape[:2]
    if n * t <= max_rows:
        return low[..., :hog_dim].reshape(n * t, hog_dim)
    pick = np.random.default_rng(seed).integers(0, t, size=n)
    return low[np.arange(n), pick, :hog_dim]


def dbscan_on_tsne(
    points: np.ndarray, eps: float | None, min_samples: int, seed: int
) -> tuple[np.ndarray, float]:
    """The paper's clustering: t-SNE (3-D) of the training points, then DBSCAN on the map."""
    from sklearn.cluster import DBSCAN
    from sklearn.manifold import TSNE
    from sklearn.neighbors import NearestNeighbors

    n = points.shape[0]
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    # Exact t-SNE up to 2,000 points: sklearn's Barnes-Hut in 3-D is far slower on small sets.
    method = "exact" if n <= 2000 else "barnes_hut"
    tsne = TSNE(n_components=3, perplexity=perplexity, init="pca", random_state=seed, method=method)
    embedded = tsne.fit_transform(points.astype(np.float64))
    if eps is None:
        dist, _ = NearestNeighbors(n_neighbors=min(min_samples + 1, n)).fit(embedded).kneighbors(embedded)
        eps = float(np.median(dist[:, -1]))
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit(embedded).labels_
    return labels, eps


def cluster_labels(points: np.ndarray, eps: float | None, min_samples: int, max_tsne: int,
                   seed: int) -> tuple[np.ndarray, float, int]:  # fmt: skip
    """DBSCAN-on-t-SNE labels (noise -1) of every training point, the ``eps`` used, and how
    many points the t-SNE saw. t-SNE is O(N^2) here (exact; ~1 min for 1,000 points on a
    loaded 2-core CPU), so above ``max_tsne`` points it runs on a random subset and the other
    training points take the label of their nearest subset point in the PCA space — the
    same rule :class:`memo.models.m3s.M3S` applies to new videos."""
    n = len(points)
    if n <= max_tsne:
        labels, used = dbscan_on_tsne(points, eps, min_samples, seed)
        return labels, used, n
    from sklearn.neighbors import NearestNeighbors

    subset = np.sort(np.random.default_rng(seed).choice(n, size=max_tsne, replace=False))
    sub_labels, used = dbscan_on_tsne(points[subset], eps, min_samples, seed)
    _, nearest = NearestNeighbors(n_neighbors=1).fit(points[subset]).kneighbors(points)
    labels = sub_labels[nearest[:, 0]]
    labels[subset] = sub_labels
    return labels, used, max_tsne


def _loo_knn(points: np.ndarray, k: int) -> np.ndarray:
    """Log mean distance to the ``k`` nearest *other* training points (as in training mode)."""
    d2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1) if len(points) <= 4000 else None
    if d2 is None:
        from sklearn.neighbors import NearestNeighbors

        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
        return np.log(dist[:, 1:].mean(1) + 1e-6)
    nearest = np.sort(d2, axis=1)[:, 1 : k + 1]
    return np.log(np.sqrt(nearest).mean(1) + 1e-6)


def _fit_similarity(model: M3S, vectors: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor],
                    sizes: dict[str, Any], report: dict[str, Any], eps: float | None, min_samples: int,
                    max_tsne: int, seed: int) -> None:  # fmt: skip
    sim = model.sim
    for src in sim["over"]:
        z = vectors[src].detach().cpu().numpy().astype(np.float64)
        center, proj = _pca(z, int(sim["components"]), seed)
        points = ((z - center) @ proj.T).astype(np.float32)
        labels, used_eps, seen = cluster_labels(points, eps, min_samples, max_tsne, seed)
        clusters = int(labels.max()) + 1
        labels = np.where(labels < 0, clusters, labels)  # noise -> its own last column
        k = min(int(sim["k"]), len(points) - 1)
        knn = _loo_knn(points.astype(np.float64), k)
        sd = knn.std() if knn.std() > 1e-6 else 1.0
        tensors |= {
            f"sim_{src}_center": torch.from_numpy(center),
            f"sim_{src}_proj": torch.from_numpy(proj),
            f"sim_{src}_bank": torch.from_numpy(points),
            f"sim_{src}_labels": torch.from_numpy(labels.astype(np.int64)),
            f"sim_{src}_knn": torch.tensor([knn.mean(), sd], dtype=torch.float32),
        }
        sizes["clusters"][src], sizes["bank"][src] = clusters, len(points)
        noise = int((labels == clusters).sum())
        report[src] = {"clusters": clusters, "noise": noise, "eps": used_eps, "k": k, "tsne_points": seen}
        log.info(
            "m3s similarity over %s: %d clusters, %d noise points (eps %.3g)", src, clusters, noise, used_eps
        )


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return (
        x.detach().float().cpu()
        if isinstance(x, torch.Tensor)
        else torch.from_numpy(np.asarray(x, np.float32))
    )


def fit_m3s(model: M3S, raw: dict[str, np.ndarray | torch.Tensor], *, eps: float | None = None,
            min_samples: int = 5, max_rows: int = 20000, max_tsne: int = 1000,
            seed: int = 0) -> M3SFit:  # fmt: skip
    """Fit every training-set transform on ``raw`` (:meth:`M3S.raw_vectors` of the training
    videos), install them (and a fresh head) into ``model``, and return them."""
    needed = [t for t in ("low", "mid", "high") if t in model.tiers or t in model.sim["over"]]
    missing = [t for t in needed if t not in raw]
    if missing:
        raise ValueError(f"m3s fit: no raw vectors for tier(s) {missing} (have {sorted(raw)})")
    raw_t = {k: _as_tensor(raw[k]) for k in needed}
    sizes_seen = {int(v.shape[0]) for v in raw_t.values()}
    if len(sizes_seen) != 1:
        raise ValueError(f"m3s fit: tiers disagree on the number of training videos: {sorted(sizes_seen)}")
    bad = [k for k, v in raw_t.items() if not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"m3s fit: non-finite values in the raw vectors of {bad}")
    tensors: dict[str, torch.Tensor] = {}
    sizes: dict[str, Any] = {"clusters": {}, "bank": {}}
    report: dict[str, Any] = {"videos": int(next(iter(raw_t.values())).shape[0])}
    vectors: dict[str, torch.Tensor] = {}
    if "low" in raw_t and model.low is not None:
        dh = int(model.low["hog_dim"])
        center, proj = _pca(
            _hog_rows(raw_t["low"].numpy(), dh, max_rows, seed), int(model.low["components"]), seed
        )
        tensors["low_hog_mean"], tensors["low_hog_proj"] = torch.from_numpy(center), torch.from_numpy(proj)
        pooled = pool_lowlevel(
            raw_t["low"], tensors["low_hog_mean"], tensors["low_hog_proj"], bool(model.low["temporal_std"])
        )
        tensors["low_mean"], tensors["low_std"] = _stats(pooled.numpy())
        vectors["low"] = (pooled - tensors["low_mean"]) / tensors["low_std"]
    for tier in ("mid", "high"):
        if tier in raw_t:
            tensors[f"{tier}_mean"], tensors[f"{tier}_std"] = _stats(raw_t[tier].numpy())
            vectors[tier] = (raw_t[tier] - tensors[f"{tier}_mean"]) / tensors[f"{tier}_std"]
    if "similarity" in model.tiers:
        _fit_similarity(model, vectors, tensors, sizes, report, eps, min_samples, max_tsne, seed)
    model.allocate(sizes)
    _load(model, tensors)
    model.train()
    with torch.no_grad():  # training-mode blocks: own cluster label, leave-one-out kNN
        blocks = model.head_blocks(raw_t)
    for tier, block in blocks.items():
        tensors[f"block_mean_{tier}"] = block.mean(0)
    _load(model, tensors)
    return M3SFit(tensors, sizes, report)


def _load(model: M3S, tensors: dict[str, torch.Tensor]) -> None:
    for name, value in tensors.items():
        model.get_buffer(name).copy_(value)


def spec_with_fit(spec: ModelSpec, fit: M3SFit) -> ModelSpec:
    """The spec whose ``arch_args`` rebuild the fitted model (buffer sizes)."""
    return spec.with_(
        arch_args={**spec.arch_args, "fitted": fit.sizes}, metadata={**spec.metadata, "m3s_fit": fit.report}
    )
