"""The shape of a cluster run (``--address``, ``--actors``, ``--gpus-per-actor``, ``--decode-cpus``,
``--videos-per-block``), checked before any work, and the connection to Ray.

Defaults come from the cluster's resources once connected: one model actor per GPU when the
cluster has GPUs (``--gpus-per-actor 1``); on a CPU-only cluster, actors of ``--threads``
CPUs (default 2, 1 on a 2-CPU machine) filling half of the CPUs, the other half left to the decode tasks.
A shape the cluster's nodes cannot hold right now (one decode task and the actors, node by
node as Ray places them: :mod:`memo.score.ray_fit`, the same check as the stall watch) is
refused with one line instead of waiting for resources that never come; on an autoscaling
cluster ask for what the cluster can grow to by starting it at that size.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from memo.errors import MemoError, MissingDependency
from memo.score.ray_fit import Shape, missing_resources

log = logging.getLogger(__name__)

ADDRESS = re.compile(r"^(auto|local|ray://[^\s/:]+:\d+|[^\s/:]+:\d+)$")


@dataclass
class RayEngineOptions:
    output: str  # OUT_DIR: a folder or an object-store URI
    address: str | None = None  # None: start a local Ray instance
    actors: int | None = None  # model-stage actors (None: from the cluster's resources)
    gpus_per_actor: float | None = None  # None: 1 when the cluster has GPUs, else 0
    decode_cpus: float = 1.0  # CPUs reserved by each decode task
    videos_per_block: int = 8  # manifest rows per Ray block: the unit of decoding and of failure
    verbose: bool = False  # Ray's own progress bars and logs
    flush_seconds: float = 5.0  # a Parquet part at least this often while rows arrive (0: every batch)
    stall_seconds: float = (
        600.0  # stop when silent this long and the cluster lost what the job needs (0: wait)
    )


def check_engine_options(engine: RayEngineOptions, decoder: str, has_side_inputs: bool) -> None:
    """Everything about the cluster options that needs no cluster: one line each."""
    if engine.address is not None and not ADDRESS.match(engine.address):
        raise MemoError(
            f"--address {engine.address!r}: expected auto, HOST:PORT or ray://HOST:PORT (e.g. ray://head:10001)"
        )
    if engine.actors is not None and engine.actors < 1:
        raise MemoError("--actors must be at least 1")
    if engine.gpus_per_actor is not None and engine.gpus_per_actor < 0:
        raise MemoError("--gpus-per-actor must be 0 or more")
    if engine.decode_cpus <= 0:
        raise MemoError("--decode-cpus must be more than 0")
    if engine.videos_per_block < 1:
        raise MemoError("--videos-per-block must be at least 1")
    if engine.stall_seconds < 0:
        raise MemoError("--stall-timeout must be 0 (wait for ever) or a number of seconds")
    if decoder == "dali":
        raise MemoError(
            "--engine ray decodes with PyAV in CPU tasks; --decoder dali is not supported there yet"
        )
    if has_side_inputs:
        raise MemoError(
            "--engine ray scores models whose inputs come from the video; --text / --features are not supported there yet"
        )


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependency("ray", "ray", "--engine ray") from exc
    return ray


def connect(address: str | None, verbose: bool) -> bool:
    """Join the cluster at ``address`` (or start a local instance); whether memo started it."""
    ray = import_ray()
    if ray.is_initialized():  # a caller (a notebook, a test) already connected this process
        return False
    level = logging.INFO if verbose else logging.ERROR
    kwargs: dict[str, Any] = {"logging_level": level, "log_to_driver": verbose}
    if address in (None, "local"):
        kwargs["include_dashboard"] = False
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or "a local Ray instance"
        raise MemoError(f"--address: cannot connect to {where} ({' '.join(str(exc).split())})") from exc
    return True


def plan_shape(
    engine: RayEngineOptions, threads: int | None, nodes: list[dict[str, float]], device: str = "auto"
) -> Shape:
    """The job's shape from the options and the alive ``nodes`` (each node's resource totals),
    or a one-line refusal when the nodes cannot hold it."""
    cpus = sum(float(n.get("CPU", 0)) for n in nodes)
    gpus = sum(float(n.get("GPU", 0)) for n in nodes)
    per_gpu = engine.gpus_per_actor if engine.gpus_per_actor is not None else (1.0 if gpus else 0.0)
    if device.startswith("cuda") and not per_gpu:
        raise MemoError(f"--device {device} with --engine ray needs GPU actors: --gpus-per-actor 1 (or auto)")
    # CPU actors: 2 intra-op threads where the cluster leaves a CPU to decode beside them
    cpus_per_actor = float(threads or (1 if per_gpu else max(1, min(2, cpus - engine.decode_cpus))))
    if engine.actors is not None:
        actors = engine.actors
    elif per_gpu:
        actors = max(1, int(gpus // per_gpu))
    else:
        actors = max(1, int(cpus // (2 * cpus_per_actor)))
    shape = Shape(actors, per_gpu, cpus_per_actor, engine.decode_cpus)
    lack = missing_resources(shape, nodes)
    if lack is not None:
        hint = " (--gpus-per-actor 0 for CPU actors)" if per_gpu and actors * per_gpu > gpus else ""
        raise MemoError(
            f"{actors} actor(s) × {cpus_per_actor:g} CPUs (--threads) and {per_gpu:g} GPUs "
            f"(--gpus-per-actor) + one decode task × {engine.decode_cpus:g} CPUs (--decode-cpus) "
            f"cannot be placed: {lack}{hint}"
        )
    return shape


def quiet_ray_data(verbose: bool) -> None:
    """Ray Data's progress bars and plan logs only with ``-v``; errors always reach the log."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = verbose
    context.print_on_execution_start = verbose
    context.max_errored_blocks = -1  # a lost block is reconciled into failed rows, not a lost job
    if not verbose:
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "bars disabled"
