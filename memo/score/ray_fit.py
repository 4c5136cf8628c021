"""Whether a cluster's nodes can hold a Ray job's shape, node by node as Ray places work.

One mechanism for both moments it matters: :func:`memo.score.ray_options.plan_shape` refuses
a shape the cluster cannot hold before any work, and :class:`memo.score.ray_watch.StallWatch`
stops a job whose cluster lost what it needs mid-run. Totals are not enough: two nodes of
2 CPUs cannot hold an actor of 3 CPUs although the cluster has 4.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    actors: int
    gpus_per_actor: float
    cpus_per_actor: float
    decode_cpus: float


def missing_resources(shape: Shape, nodes: list[dict[str, float]]) -> str | None:
    """What the alive ``nodes`` (each node's resource totals) lack to hold ``shape``, or None.

    Ray places each task and actor on one node, so totals are not enough. Each node that can
    take one decode task is tried as its host; the actors are then packed greedily, each on the
    node with the most CPUs left that fits it. Greedy packing can call a tight cluster short;
    the remedy is the one the message names (fewer actors or CPUs per actor)."""
    free = [(float(n.get("CPU", 0)), float(n.get("GPU", 0))) for n in nodes]
    have = (
        f"the cluster now has {sum(f[0] for f in free):g} CPUs and {sum(f[1] for f in free):g} GPUs "
        f"on {len(free)} node(s)"
    )
    hosts = [i for i, f in enumerate(free) if f[0] >= shape.decode_cpus]
    if not hosts:
        return f"{have}; no node has the {shape.decode_cpus:g} CPUs of a decode task (--decode-cpus)"
    most = max(_actors_placed(shape, free, host) for host in hosts)
    if most >= shape.actors:
        return None
    return (
        f"{have}; beside a decode task only {most} of {shape.actors} actor(s) of "
        f"{shape.cpus_per_actor:g} CPUs and {shape.gpus_per_actor:g} GPUs fit"
    )


def _actors_placed(shape: Shape, free: list[tuple[float, float]], decode_host: int) -> int:
    """How many actors fit, greedily, once one decode task sits on node ``decode_host``."""
    left = [[cpus, gpus] for cpus, gpus in free]
    left[decode_host][0] -= shape.decode_cpus
    for placed in range(shape.actors):
        fits = [f for f in left if f[0] >= shape.cpus_per_actor and f[1] >= shape.gpus_per_actor]
        if not fits:
            return placed
        host = max(fits, key=lambda f: f[0])
        host[0] -= shape.cpus_per_actor
        host[1] -= shape.gpus_per_actor
    return shape.actors
