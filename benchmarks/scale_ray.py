"""Local `memo score` vs `--engine ray` with one and with two model actors, side by side in one run.

    PYTHONPATH=. python benchmarks/scale_ray.py [--videos 40] [--model resmem] [--batch-size 16]
        [--ray-cpus 4] [--repeats 1] [--json OUT.json]

On the same library of ``--videos`` generated H.264 clips (3 s, 25 fps, 480x270, different
content each), in this order per round: local ``score_videos`` (threads: all cores, 2
decoding workers), then ``score_videos_ray`` on a local Ray instance started once with
``--ray-cpus`` logical CPUs, with 1 actor (2 intra-op threads) and with 2 actors (1 thread
each: the same cores split two ways). Each side loads its own model, so the figures are the
way a user meets them.

Reported per side: wall seconds, throughput (videos / wall second), and for Ray the job's
fixed cost split into Ray's start (``ray.init``, once per process) and the time to the first
row (planning, worker processes, model load in the actor, first blocks), plus the
steady-state rate between the first and the last row. Load average before and after:
the machine may be shared, say so next to the figures.
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

from memo.data.synthetic import write_video
from memo.score import ScoreOptions, score_videos
from memo.score.ray_engine import score_videos_ray
from memo.score.ray_options import RayEngineOptions


def generate_library(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"clip_{i:03d}.mp4"
        if not path.exists():
            write_video(path, "h264", frames=75, fps=25, width=480, height=270, seed=i)
    return folder


def run_local(library: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    options = ScoreOptions(
        inputs=[str(library)], output=out, model=args.model, batch_size=args.batch_size, overwrite=True
    )
    started = time.perf_counter()
    summary = score_videos(options)
    wall = time.perf_counter() - started
    assert summary.scored == args.videos, summary.to_json()
    return {"wall_s": wall, "videos_per_s": args.videos / wall}


def run_ray(
    library: Path, out: Path, actors: int, threads: int, args: argparse.Namespace
) -> dict[str, float]:
    options = ScoreOptions(
        inputs=[str(library)], output=out, model=args.model, batch_size=args.batch_size,
        overwrite=True, threads=threads,
    )  # fmt: skip
    engine = RayEngineOptions(output=str(out), actors=actors, gpus_per_actor=0, videos_per_block=4)
    stamps: list[float] = []
    started = time.perf_counter()
    summary = score_videos_ray(options, engine, on_row=lambda row, s: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - started
    assert summary.scored == args.videos, summary.to_json()
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return {
        "wall_s": wall,
        "videos_per_s": args.videos / wall,
        "first_row_s": stamps[0] - started,
        "steady_videos_per_s": steady,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--model", default="resmem")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ray-cpus", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import ray

    work = Path(tempfile.mkdtemp(prefix="memo-scale-"))
    library = generate_library(work / "library", args.videos)
    load_before = os.getloadavg()
    run_local(library, work / "warm.csv", argparse.Namespace(**{**vars(args)}))  # file cache, weights hash
    started = time.perf_counter()
    ray.init(num_cpus=args.ray_cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    ray_start = time.perf_counter() - started
    rounds: dict[str, list[dict[str, float]]] = {"local": [], "ray_1_actor": [], "ray_2_actors": []}
    for _ in range(args.repeats):
        rounds["local"].append(run_local(library, work / "local.csv", args))
        rounds["ray_1_actor"].append(run_ray(library, work / "ray1", 1, 2, args))
        rounds["ray_2_actors"].append(run_ray(library, work / "ray2", 2, 1, args))
    ray.shutdown()
    medians = {
        side: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for side, runs in rounds.items()
    }
    local_rate = medians["local"]["videos_per_s"]
    report = {
        "command": "PYTHONPATH=. python benchmarks/scale_ray.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "ray_init_s": ray_start,
        "medians": medians,
        "ray_1_actor_vs_local": medians["ray_1_actor"]["videos_per_s"] / local_rate,
        "ray_2_actors_vs_local": medians["ray_2_actors"]["videos_per_s"] / local_rate,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
