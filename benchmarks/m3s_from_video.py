"""M3-S trained from video end to end with a real frozen mid trunk, and what the tier cache saves.

    python benchmarks/m3s_from_video.py [--videos 80] [--mid resmem] [--modules low,mid,similarity]

Writes ``--videos`` generated videos with a planted signal (``memo.data.m3s_planted``:
brightness, blur, motion speed and a same-luma colour outlier), then runs ``memo train
--model m3s`` on them (Python API, 4-fold cross-validation and the final bundle) twice with
the same cache folder: the first run decodes every video and runs the low-level extractors
and the frozen trunk; the second reads each video's tier vectors back from the cache
(``memo/data/vector_cache.py``). Prints the cross-validated Spearman, the time of each run
and the time spent preparing the tier vectors in each, and the CPU model.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from memo.data.m3s_planted import write_planted
from memo.trainer import FitConfig, TrainOptions, train
from memo.trainer.options import validate


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor()
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    return names[0] if names else platform.processor()


def options(folder: Path, out: Path, args: argparse.Namespace) -> TrainOptions:
    model_args = {"modules": args.modules, "mid": args.mid, "low_size": 64, "low_frames": 4,
                  "mid_frames": args.frames, "similarity_over": "mid"}  # fmt: skip
    return TrainOptions(
        dataset="csv", data=folder / "labels.csv", videos=folder / "videos", output=out, targets=["score"],
        inputs=["keyframes"], model="m3s", model_args=model_args, folds=4, plots=False,
        cache_dir=folder / "cache", seed=0,
        fit=FitConfig(epochs=60, batch_size=16, lr=1e-3, loss="mse", patience=15, device="cpu"),
    )  # fmt: skip


def timed_run(folder: Path, name: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """(Spearman of the folds, seconds preparing the tier vectors, seconds for the whole run)."""
    import memo.trainer.m3s_recipe as recipe

    spent = {"vectors": 0.0}
    real = recipe.m3s_vectors

    def measured(*a, **k):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            spent["vectors"] += time.perf_counter() - started

    recipe.m3s_vectors = measured
    try:
        opts = options(folder, folder / name, args)
        validate(opts)
        started = time.perf_counter()
        result = train(opts)
        total = time.perf_counter() - started
    finally:
        recipe.m3s_vectors = real
    return float(result.metrics["summary"]["score"]["spearman_mean"]), spent["vectors"], total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=80)
    parser.add_argument("--mid", default="resmem", help="mid trunk: resmem, tiny, torchvision:<arch>")
    parser.add_argument("--modules", default="low,mid,similarity")
    parser.add_argument("--frames", type=int, default=3, help="keyframes per video for the mid trunk")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        planted = write_planted(folder / "videos", args.videos, size=64, frames=12, seed=5)
        lines = ["path,score"] + [f"{Path(v.path).name},{v.label:.6f}" for v in planted]
        (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        first = timed_run(folder, "first", args)
        second = timed_run(folder, "second", args)
    print(f"cpu: {cpu_name()}")
    print(f"m3s from video: {args.videos} generated videos, modules {args.modules}, mid trunk {args.mid}")
    for label, (rho, vectors, total) in (("first run (computes)", first), ("second run (cache)", second)):
        print(
            f"  {label}: Spearman {rho:.3f} (4 folds), tier vectors {vectors:.1f} s, whole run {total:.1f} s"
        )
    print(f"  tier vectors: {first[1] / max(second[1], 1e-9):.0f}x faster from the cache")


if __name__ == "__main__":
    main()
