"""Scoring throughput: the full pipeline vs the model alone, side by side in one run.

    python benchmarks/score_pipeline.py VIDEOS_DIR [--model resmem] [--batch-size 16] [--workers 2]

*Model-only* feeds the already decoded and preprocessed inputs of every video to the
backend in batches of ``--batch-size`` rows. *End to end* runs ``memo score`` on the same
videos (decode workers + batching + inference + CSV writing). The ratio end-to-end /
model-only says how busy the pipeline keeps the model (1.00 = never waits on I/O).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from memo.data.discover import discover_videos
from memo.data.inputs import prepare_video
from memo.runtime import load_session
from memo.score import ScoreOptions, score_videos
from memo.score.runner import prepare_bundle


def model_only_seconds(session, prepared, batch_size: int) -> tuple[float, int]:
    names = list(prepared[0].arrays)
    rows = {n: np.concatenate([p.arrays[n] for p in prepared]) for n in names}
    total = next(iter(rows.values())).shape[0]
    session.run({n: a[:batch_size] for n, a in rows.items()})  # warm-up
    start = time.perf_counter()
    for i in range(0, total, batch_size):
        session.run({n: a[i : i + batch_size] for n, a in rows.items()})
    return time.perf_counter() - start, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path)
    parser.add_argument("--model", default="resmem")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    options = ScoreOptions(
        inputs=[str(args.videos)],
        output=Path(tempfile.mkdtemp()) / "bench.csv",
        model=args.model,
        device="cpu",
        batch_size=args.batch_size,
        workers=args.workers,
        overwrite=True,
    )
    bundle = prepare_bundle(options)
    paths = discover_videos(options.inputs)
    session = load_session(bundle, "torch", "cpu")
    prepared = [prepare_video(p, bundle.spec) for p in paths]
    decode_s = sum(p.seconds for p in prepared)

    model_times, e2e_times = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine state
        seconds, rows = model_only_seconds(session, prepared, args.batch_size)
        model_times.append(seconds)
        summary = score_videos(options)
        assert summary.failed == 0, summary.failures
        e2e_times.append(summary.seconds)
    model_s, e2e_s = min(model_times), min(e2e_times)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    print(
        f"model: {bundle.label}  videos: {len(paths)}  rows (frames): {rows}  batch size: {args.batch_size}"
    )
    print(f"decode+preprocess alone (serial): {decode_s:.2f} s  ({len(paths) / decode_s:.2f} videos/s)")
    print(f"model only:  {model_s:.2f} s  {rows / model_s:.2f} frames/s  {len(paths) / model_s:.3f} videos/s")
    print(f"end to end:  {e2e_s:.2f} s  {rows / e2e_s:.2f} frames/s  {len(paths) / e2e_s:.3f} videos/s")
    print(f"end-to-end / model-only = {e2e_s / model_s:.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
