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
from pathlib import Path

from memo.trainer.distributed import check_world
from memo.trainer.options import Launch, TrainOptions, check_launch_flags, validate
from memo.trainer.recipe_api import recipe_for


def check_launch(options: TrainOptions, launch: Launch) -> None:
    """Every check before a worker starts: the options, the world, the launcher's own flags."""
    validate(options)
    check_launch_flags(options, launch)
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
