"""Training throughput (clips/s) of the VideoMem baselines and the CNN+Transformer on this CPU.

One step = forward + backward + AdamW update on a batch of random inputs of the model's own
shape (decoding excluded: the trainer caches decoded frames). Reported as the median
clips/s over the timed steps after one warm-up step, with the load average, because the
machine this was written on is shared.

    python benchmarks/baseline_train_speed.py                  # tiny (test) configurations
    python benchmarks/baseline_train_speed.py --threads 1      # one torch thread
    python benchmarks/baseline_train_speed.py --default --batch 2 --steps 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memo.models.profile import video_inputs
from memo.models.registry import create_model, get_entry
from tests.baselinehelp import TINY, architecture

DEFAULTS = {"resnet3d": {}, "resnet3d-r2plus1d": {"variant": "r2plus1d_18"}, "semantic-embedding": {},
            "cnn-transformer": {}}  # fmt: skip


def clips_per_second(config: str, kwargs: dict[str, object], batch: int, steps: int) -> float:
    spec = get_entry(architecture(config)).default_spec(**kwargs)
    torch.manual_seed(0)
    model = create_model(spec.architecture, **spec.arch_args).train()
    inputs = {k: torch.rand_like(v) for k, v in video_inputs(spec, videos=batch).items()}
    target = torch.rand(batch)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(**inputs)[spec.output_names[0]], target)
        loss.backward()
        optimiser.step()
        times.append(time.perf_counter() - started)
    return batch / float(np.median(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--default", action="store_true", help="the papers' configurations, not the tiny ones"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = DEFAULTS if args.default else TINY
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, load average at start {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| config | batch | training clips/s |\n| --- | --- | --- |")
    for config, kwargs in configs.items():
        rate = clips_per_second(config, kwargs, args.batch, args.steps)
        print(
            f"| {config} ({'default' if args.default else 'tiny'}) | {args.batch} | {rate:.2f} |", flush=True
        )
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
