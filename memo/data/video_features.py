"""The video stream for training: keyframes -> frozen backbone -> one vector per video, cached.

Backbones (see :mod:`memo.models.trunks`): ``resmem`` (ResMem's 256-d penultimate layer,
weights from the installed ``resmem`` package) or ``torchvision:<arch>`` with local weights
(``--backbone-weights FILE``, safetensors or a tensors-only ``.pt`` read with
``weights_only=True``). Each video's vector is cached under
``<cache>/video/<backbone>/<sha256(path, size, mtime, frames, weights)>.npy`` and computed once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from memo.data.inputs import prepare_video
from memo.data.text import default_cache_dir, save_npy_atomic
from memo.errors import InputError
from memo.models.spec import ModelSpec

log = logging.getLogger(__name__)


def backbone_state(backbone: str, weights: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Frozen backbone weights, keyed as in :func:`memo.models.trunks.build_backbone`'s module
    (and so as under ``backbone.`` in a fusion-mlp bundle)."""
    if backbone == "resmem" and weights is None:
        from memo.models.named import resolve_model

        return resolve_model("resmem").state_dict()
    if weights is None:
        raise InputError(f"video backbone {backbone!r} needs local weights (--backbone-weights FILE)")
    from memo.models.trunks import build_backbone
    from memo.models.weights import load_weights

    module = build_backbone(backbone)  # the file is checked against it: every tensor, every shape
    load_weights(module, weights)
    return module.state_dict()


@dataclass
class VideoEmbedder:
    """A frozen backbone on its own (:mod:`memo.models.trunks`): a video's frames -> one vector."""

    backbone: str
    spec: ModelSpec
    module: torch.nn.Module
    device: str = "cpu"

    @classmethod
    def create(
        cls, backbone: str, num_frames: int = 7, weights: str | Path | None = None, device: str = "cpu"
    ) -> VideoEmbedder:
        from memo.models.trunks import backbone_input, build_backbone

        spec = ModelSpec(
            name=f"embed:{backbone}",
            architecture="backbone",
            inputs=(backbone_input(backbone, num_frames),),
            outputs=(),
            unit="video",
        )
        module = build_backbone(backbone)
        module.load_state_dict(backbone_state(backbone, weights), strict=backbone == "resmem")
        return cls(backbone, spec, module.eval().to(device), device)

    def embed(self, path: str) -> np.ndarray:
        from memo.models.trunks import embed_frames

        prepared = prepare_video(path, self.spec)
        frames = torch.from_numpy(prepared.arrays["frames"]).to(self.device)
        with torch.inference_mode():
            return embed_frames(self.module, frames)[0].float().cpu().numpy()


def _key(backbone: str, path: str, frames: int, weights: str | Path | None = None) -> str:
    """A video's cache key: the file (:func:`memo.data.vector_cache.file_key`: path, size, mtime),
    the frame count and the backbone's weights (two weight files never share vectors)."""
    from memo.data.vector_cache import file_key, weights_identity

    text = f"{backbone}\0{file_key(path)}\0{frames}\0{weights_identity(weights)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_videos(
    paths: Sequence[str],
    backbone: str = "resmem",
    num_frames: int = 7,
    weights: str | Path | None = None,
    cache_dir: Path | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, float]:
    """``(len(paths), dim)`` vectors (cached per video) and the videos/s of what was computed."""
    cache = (cache_dir or default_cache_dir()) / "video" / backbone.replace(":", "_")
    embedder: VideoEmbedder | None = None
    rows: list[np.ndarray] = []
    computed, seconds = 0, 0.0
    for i, path in enumerate(paths):
        target = cache / f"{_key(backbone, path, num_frames, weights)}.npy"
        vector = None
        if target.is_file():
            try:
                vector = np.load(target, allow_pickle=False)
            except (OSError, ValueError):
                vector = None
        if vector is None:
            embedder = embedder or VideoEmbedder.create(backbone, num_frames, weights, device)
            started = time.perf_counter()
            vector = embedder.embed(path)
            seconds += time.perf_counter() - started
            computed += 1
            save_npy_atomic(target, vector)
        rows.append(vector.astype(np.float32))
        if progress:
            progress(i + 1, len(paths))
    rate = computed / seconds if seconds else 0.0
    return np.stack(rows), rate
