"""Scoring throughput: the full pipeline vs the model alone, interleaved in one run.

    PYTHONPATH=. python benchmarks/score_pipeline.py [--library DIR] [--videos 40] [--model resmem]
        [--batch-size 16] [--workers 2] [--repeats 3] [--threads N] [--profile OUT.prof]

Both sides are timed from the same starting line, the way a user meets them:

* *model only*: load the session, then feed the already decoded and preprocessed inputs
  of every video to it in batches of ``--batch-size`` rows (the first batch is cold, as
  in a real run);
* *end to end*: ``score_videos`` on the same videos (it loads its own session, decodes in
  worker threads, batches, runs the model and writes a CSV).

So session loading and the cold first batch are counted once on each side. One untimed
round of each warms the OS file cache, imports and PyTorch's first-run set-up. Then the
two sides alternate (AB, BA, AB, ...) ``--repeats`` times, so a burst of load from other
processes hits both; the report gives the medians and the median of the per-round
ratios, and the load average before and after (the machine may be shared: say so).

Without ``--library`` a library of ``--videos`` synthetic H.264 clips (3 s, 25 fps,
480x270, different content each) is generated in a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from memo.data.discover import discover_videos
from memo.data.inputs import prepare_video
from memo.data.synthetic import write_video
from memo.runtime import load_session
from memo.runtime.options import LoadOptions
from memo.score import ScoreOptions, score_videos
from memo.score.runner import prepare_bundle


def generate_library(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"clip_{i:03d}.mp4"
        if not path.exists():
            write_video(path, "h264", frames=75, fps=25, width=480, height=270, seed=i)
    return folder


def model_only(bundle, prepared, batch_size: int, backend: str, threads: int | None) -> float:  # type: ignore[no-untyped-def]
    """Load a session and run every prepared row through it; the seconds it took."""
    names = list(prepared[0].arrays)
    rows = {n: np.concatenate([p.arrays[n] for p in prepared]) for n in names}
    total = next(iter(rows.values())).shape[0]
    start = time.perf_counter()
    session = load_session(bundle, backend, "cpu", LoadOptions(threads=threads))
    for i in range(0, total, batch_size):
        session.run({n: a[i : i + batch_size] for n, a in rows.items()})
    return time.perf_counter() - start


def end_to_end(options: ScoreOptions) -> float:
    start = time.perf_counter()
    summary = score_videos(options)
    seconds = time.perf_counter() - start
    if summary.failed:
        raise SystemExit(f"end to end: {summary.failed} videos failed: {summary.failures[:3]}")
    return seconds


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--library", type=Path, help="Folder to generate --videos clips into (kept; reused when present)."
    )
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--model", default="resmem")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--frames", type=int, default=None, help="Keyframes per video (default: the model's)."
    )
    parser.add_argument("--threads", type=int, default=None, help="Intra-op threads on both sides.")
    parser.add_argument("--profile", type=Path, help="Also profile one end-to-end run into this file.")
    parser.add_argument("--json", type=Path, help="Write the figures to this JSON file.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    library = generate_library(args.library or Path(tempfile.mkdtemp()) / "library", args.videos)
    options = ScoreOptions(
        inputs=[str(library)],
        output=Path(tempfile.mkdtemp()) / "bench.csv",
        model=args.model,
        backend=args.backend,
        device="cpu",
        batch_size=args.batch_size,
        workers=args.workers,
        overwrite=True,
        threads=args.threads,
        num_frames=args.frames,
    )
    bundle = prepare_bundle(options)
    paths = discover_videos(options.inputs)
    prepared = [prepare_video(p, bundle.spec) for p in paths]
    frames = sum(p.rows for p in prepared)
    decode_s = sum(p.seconds for p in prepared)
    load_start = os.getloadavg()

    def one(side: str) -> float:
        if side == "model":
            return model_only(bundle, prepared, args.batch_size, args.backend, args.threads)
        return end_to_end(options)

    one("model"), one("e2e")  # untimed warm-up round
    times: dict[str, list[float]] = {"model": [], "e2e": []}
    for r in range(args.repeats):
        for side in ("model", "e2e") if r % 2 == 0 else ("e2e", "model"):
            times[side].append(one(side))
            print(f"round {r + 1} {side}: {times[side][-1]:.2f} s  load {os.getloadavg()[0]:.2f}", flush=True)
    load_end = os.getloadavg()
    ratios = [e / m for e, m in zip(times["e2e"], times["model"], strict=True)]
    model_s, e2e_s = statistics.median(times["model"]), statistics.median(times["e2e"])
    report = {
        "machine": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
        "model": bundle.label,
        "backend": args.backend,
        "videos": len(paths),
        "frames": frames,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "repeats": args.repeats,
        "decode_serial_s": round(decode_s, 3),
        "model_only_s": [round(t, 3) for t in times["model"]],
        "end_to_end_s": [round(t, 3) for t in times["e2e"]],
        "median_model_only_s": round(model_s, 3),
        "median_end_to_end_s": round(e2e_s, 3),
        "ratio_of_medians": round(e2e_s / model_s, 3),
        "median_ratio": round(statistics.median(ratios), 3),
    }
    print(json.dumps(report, indent=2))
    print(f"end-to-end / model-only = {report['median_ratio']:.3f} (median of rounds; target <= 1.15)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.profile:
        import cProfile

        cProfile.runctx("end_to_end(options)", globals(), {"end_to_end": end_to_end, "options": options},
                        str(args.profile))  # fmt: skip
        print(f"profile of one end-to-end run: {args.profile} (python -m pstats)")


if __name__ == "__main__":
    main()
