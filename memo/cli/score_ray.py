"""`memo score --engine ray`: the cluster options, the run, its progress and summary on screen."""

from __future__ import annotations

import logging

from rich.markup import escape
from rich.table import Table

from memo.cli.app import console, fail
from memo.cli.score_progress import run_with_progress

log = logging.getLogger("memo.cli.score")

ENGINES = ("local", "ray")


def check_engine_flags(
    engine: str,
    output: str,
    address: str | None,
    actors: int | None,
    gpus_per_actor: float | None,
    decode_cpus: float,
    videos_per_block: int,
    stall_timeout: float = 600.0,
):  # type: ignore[no-untyped-def]
    """The :class:`RayEngineOptions` of ``--engine ray``; ``None`` for local; one-line errors."""
    from memo.score.ray_options import RayEngineOptions

    if engine not in ENGINES:
        raise fail(f"--engine {engine!r}: choose local or ray")
    if engine == "local":
        given = {
            "--address": address is not None,
            "--actors": actors is not None,
            "--gpus-per-actor": gpus_per_actor is not None,
            "--decode-cpus": decode_cpus != 1.0,
            "--videos-per-block": videos_per_block != 8,
            "--stall-timeout": stall_timeout != 600.0,
        }
        for flag, used in given.items():
            if used:
                raise fail(f"{flag} only applies with --engine ray")
        return None
    verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
    return RayEngineOptions(
        output=output, address=address, actors=actors, gpus_per_actor=gpus_per_actor,
        decode_cpus=decode_cpus, videos_per_block=videos_per_block, verbose=verbose,
        stall_seconds=stall_timeout,
    )  # fmt: skip


def spelled(paths: list[str] | None) -> list[str]:
    """The inputs as local scoring spells them (``./v/`` -> ``v``); URIs unchanged."""
    from memo.score.manifest import local_spelling

    return [local_spelling(p) for p in paths or []]


def score_on_ray(options, engine, show: bool, as_json: bool, finish) -> None:  # type: ignore[no-untyped-def]
    """Run the cluster job under ``memo score``'s progress bar and Ctrl-C handling
    (:mod:`memo.cli.score_progress`), then ``finish`` it (``memo score``'s summary; it exits)."""
    from memo.score.ray_engine import score_videos_ray

    def run(on_start, on_row):  # type: ignore[no-untyped-def]
        return score_videos_ray(options, engine, on_start=on_start, on_row=on_row)

    summary = run_with_progress(show, engine.output, run)
    if show:
        _render_slowest(summary.to_json()["slowest"])
    finish(summary, engine.output, as_json, not show)


def _render_slowest(slowest: list[dict]) -> None:
    if not slowest:
        return
    table = Table(title="slowest videos (decode + inference)")
    table.add_column("seconds", justify="right")
    table.add_column("video")
    for item in slowest:
        table.add_row(f"{item['seconds']:.2f}", escape(item["path"]))
    console.print(table)
