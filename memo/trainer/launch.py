"""``memo train --nproc-per-node N``: start the run's workers through torchrun.

The options are resolved and checked here, once, before anything starts (a global batch that
does not divide by the processes, a vector-head model, any other option error); they are then
written to a JSON file that every worker reads (:mod:`memo.trainer.worker`), so the workers run
exactly what this command checked. The workers are started by PyTorch's own elastic launcher,
``python -m torch.distributed.run`` (torchrun): ``--standalone`` on one machine, a c10d
rendezvous at ``--rdzv-endpoint`` across several. A worker restarted by ``--max-restarts``
resumes from the run's checkpoint. Across machines torchrun is told to give each attempt a fresh
store (``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1``, see :func:`memo.trainer.distributed._group_store`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from memo.errors import InputError
from memo.trainer.distributed import check_world
from memo.trainer.options import TrainOptions, validate
from memo.trainer.recipe_api import recipe_for


@dataclass(frozen=True)
class Launch:
    """How many workers to start where: torchrun's own options, passed through."""

    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    max_restarts: int = 0

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


def check_launch(options: TrainOptions, launch: Launch) -> None:
    """Every check before a worker starts: the options, the world, the launcher's own flags."""
    validate(options)
    if launch.nproc_per_node < 1 or launch.nnodes < 1:
        raise InputError("--nproc-per-node and --nnodes must be at least 1")
    if launch.nnodes > 1 and not launch.rdzv_endpoint:
        raise InputError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")
    if not 0 <= launch.node_rank < launch.nnodes:
        raise InputError(f"--node-rank {launch.node_rank} is not one of 0..{launch.nnodes - 1}")
    if options.check:
        raise InputError("--check reads the dataset once: run it without --nproc-per-node")
    check_world(options, launch.world_size, recipe_for(options.model).name != "video")


def torchrun_args(launch: Launch, options_file: Path) -> list[str]:
    """The command line that starts this node's workers."""
    args = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={launch.nproc_per_node}"]
    if launch.rdzv_endpoint:
        args += [
            f"--nnodes={launch.nnodes}", f"--node-rank={launch.node_rank}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={launch.rdzv_endpoint}",
        ]  # fmt: skip
    else:
        args.append("--standalone")
    args += [f"--max-restarts={launch.max_restarts}", "-m", "memo.trainer.worker", str(options_file)]
    return args


def launch_workers(options: TrainOptions, launch: Launch) -> int:
    """Start this node's workers and wait for them; returns torchrun's exit status."""
    check_launch(options, launch)
    with tempfile.TemporaryDirectory(prefix="memo-train-") as folder:
        path = Path(folder) / "options.json"
        path.write_text(json.dumps(options.to_json()), encoding="utf-8")
        env = dict(os.environ)
        if launch.nnodes > 1:  # one agent per node: attempts cannot be told apart in a shared store
            env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = "1"
        return subprocess.run(torchrun_args(launch, path), env=env, check=False).returncode
