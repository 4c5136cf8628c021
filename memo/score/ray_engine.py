"""``memo score --engine ray``: the local scoring pipeline on Ray Data, into a folder of Parquet parts.

The job is manifest -> small blocks -> decode tasks -> model actors -> rows, streamed back
to the driver, which writes them as Parquet parts (:mod:`memo.score.outdir`):

1. Everything that needs no video is checked first, as locally (options, model, output,
   settings record on resume), then the cluster's shape (:mod:`memo.score.ray_options`).
2. The manifest (:mod:`memo.score.manifest`) minus the ids already in OUT_DIR (an Arrow
   anti-join) is handed to Ray with ``from_arrow`` and cut into blocks of
   ``--videos-per-block`` rows (``repartition(target_num_rows_per_block=..., strict=True)``):
   a block is Ray's unit of retry and of loss, so it is kept small.
3. Decode tasks (:func:`memo.score.ray_stages.decode_block`) and a fixed-size pool of model
   actors (``compute=ActorPoolStrategy(size=N)``, :class:`memo.score.ray_stages.ModelStage`)
   run memo's own decoding, batching and aggregation.
4. The driver keeps a bitmap of the manifest rows it has written (a row that arrives twice is
   written once), writes parts every few seconds and on Ctrl-C, and finally writes a failed
   row for every manifest row Ray never delivered (a block dropped past its retries:
   ``max_errored_blocks`` is unlimited so one such block does not stop the job).

The driver writes instead of ``Dataset.write_parquet`` so that each row is written exactly
once, parts are whole files, progress is memo's own, and resume needs no Ray state: see
docs/scale.md for the reasons and for Ray Data's checkpointing, which is not used.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memo.errors import MemoError, OutputError
from memo.score.manifest import build_manifest, pending
from memo.score.outdir import SIDECAR, SUMMARY, OutDir
from memo.score.ray_fit import Shape
from memo.score.ray_options import (
    RayEngineOptions,
    check_engine_options,
    connect,
    import_ray,
    plan_shape,
    quiet_ray_data,
)
from memo.score.ray_stages import ModelConfig, ModelStage, decode_block
from memo.score.ray_summary import directory_summary
from memo.score.ray_watch import StallWatch, alive_nodes
from memo.score.runner import ScoreOptions, prepare_bundle, result_columns
from memo.score.settings import FORMAT, score_settings
from memo.score.setup import check_numbers, check_side_inputs
from memo.score.sources import listed_inputs
from memo.score.summary import ScoreSummary

log = logging.getLogger(__name__)

FLUSH_ROWS = 5000
DECODE_RETRIES = 3
SLICE_ROWS = 1024  # manifest rows per block handed to Ray before the streaming repartition
LOST = "lost: Ray dropped its block (a worker died past its retries or the block raised); run again with --resume"

RowCallback = Callable[[dict[str, Any], ScoreSummary], None]


def score_videos_ray(
    options: ScoreOptions,
    engine: RayEngineOptions,
    on_start: Callable[[int, int], None] | None = None,
    on_row: RowCallback | None = None,
) -> ScoreSummary:
    """Score ``options``' inputs on Ray into ``engine.output``; the summary covers the whole folder."""
    check_numbers(options.batch_size, options.workers, options.threads)
    check_engine_options(engine, options.decoder, bool(options.providers))
    out = OutDir(engine.output)
    out.check(resume=options.resume, overwrite=options.overwrite)
    bundle = prepare_bundle(options)
    if options.explain:
        from memo.score.contrib import check_explain

        check_explain(bundle, options.backend)
    check_side_inputs(bundle.spec, options.providers)
    settings = score_settings(bundle, options.precision)
    previous = _check_resume(out, settings) if options.resume else None
    listed = listed_inputs(options.inputs, options.files_from, options.manifest, options.path_column)
    if not listed:
        raise MemoError("nothing to score: give video files or folders, --files-from or --manifest")
    manifest = build_manifest(listed, options.extensions)
    import_ray()
    started_here = connect(engine.address, engine.verbose)
    try:
        shape = plan_shape(engine, options.threads, alive_nodes(), options.device)
        return _run(options, engine, out, bundle, settings, previous, manifest, shape, on_start, on_row)
    finally:
        if started_here:
            import_ray().shutdown()


def _check_resume(out: OutDir, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The folder's settings record, refused when it differs from this run's (as locally)."""
    record = out.read_json(SIDECAR)
    if record is None:
        if out.parts():
            raise OutputError(
                f"{out.location}: has parts but no {SIDECAR}; use another folder or --overwrite"
            )
        return None
    if record.get("format") != FORMAT or not isinstance(record.get("settings"), dict):
        raise OutputError(f"{out.location}/{SIDECAR}: not a memo settings record; use --overwrite")
    old = record["settings"]
    for key in dict.fromkeys([*old, *settings]):
        if old.get(key) != settings.get(key):
            raise OutputError(
                f"{out.location}: was scored with {key} = {old.get(key)}, this run has {settings.get(key)}; "
                "resuming would mix incomparable scores (use the same settings, another folder, or --overwrite)"
            )
    return record


def _run(
    options: ScoreOptions, engine: RayEngineOptions, out: OutDir, bundle: Any, settings: dict[str, Any],
    previous: dict[str, Any] | None, manifest: Any, shape: Shape,
    on_start: Callable[[int, int], None] | None, on_row: RowCallback | None,
) -> ScoreSummary:  # fmt: skip
    """Prepare the folder, run the pipeline, reconcile, summarise."""
    if options.overwrite:
        out.clear()
    retried = out.drop_failed(manifest["key"]) if options.resume and options.retry_failed else 0
    todo = pending(manifest, out.done_keys()) if options.resume else manifest
    label = f"ray: {shape.actors} actor(s)" + (
        f" × {shape.gpus_per_actor:g} GPU" if shape.gpus_per_actor else ""
    )
    backends = list((previous or {}).get("backends", []))
    out.write_json(
        SIDECAR, {"format": FORMAT, "settings": settings, "backends": backends or [options.backend]}
    )
    summary = ScoreSummary(engine.output, bundle.label, options.backend, label, "pyav")
    summary.skipped, summary.retried = manifest.num_rows - todo.num_rows, retried
    if on_start:
        on_start(manifest.num_rows, summary.skipped)
    log.info("scoring %d of %d inputs on %s", todo.num_rows, manifest.num_rows, label)
    writer = _PartWriter(out, todo, summary, on_row, engine.flush_seconds)
    started = time.perf_counter()
    watch = StallWatch(shape, engine.stall_seconds, alive_nodes)
    try:
        with watch:
            if todo.num_rows:
                for batch in _dataset(options, engine, bundle, settings, todo, shape).iter_batches(
                    batch_format="pyarrow", batch_size=None, prefetch_batches=1
                ):
                    watch.progress()
                    writer.add(batch)
                    summary.seconds = time.perf_counter() - started
        writer.reconcile(bundle, options)
    except KeyboardInterrupt:
        if watch.reason:  # the watch, not the user, interrupted
            raise MemoError(
                f"ray: stopped: {watch.reason}. The finished rows are kept in {engine.output}; run again "
                "with --resume once the cluster can hold the job (or with fewer --actors / --threads)"
            ) from None
        summary.interrupted = True
        raise
    finally:
        writer.flush()  # finished rows are kept on Ctrl-C and on errors
        summary.seconds = time.perf_counter() - started
    used = sorted(set(backends) | writer.backends) or [options.backend]
    out.write_json(SIDECAR, {"format": FORMAT, "settings": settings, "backends": used})
    summary.backend = "+".join(sorted(writer.backends)) or options.backend
    final = directory_summary(out, bundle.spec.output_names[0], summary)
    out.write_json(SUMMARY, final.to_json())
    return final


def _dataset(
    options: ScoreOptions,
    engine: RayEngineOptions,
    bundle: Any,
    settings: dict[str, Any],
    todo: Any,
    shape: Shape,
) -> Any:
    """manifest -> small blocks -> decode tasks -> model actors (the lazy Ray Data plan)."""
    ray = import_ray()
    quiet_ray_data(engine.verbose)
    slices = [todo.slice(i, SLICE_ROWS) for i in range(0, todo.num_rows, SLICE_ROWS)]
    config = ModelConfig(
        model=str(Path(options.model).resolve()) if Path(options.model).is_dir() else options.model,
        num_frames=options.num_frames, backend=options.backend, device=options.device,
        threads=int(shape.cpus_per_actor), batch_size=options.batch_size,
        per_frame=options.per_frame, explain=options.explain, settings=settings,
        precision=options.precision,
    )  # fmt: skip
    with warnings.catch_warnings():  # max_retries is passed as a Ray remote arg (deprecated in 2.60)
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated", category=Warning)
        return _plan(ray, slices, engine, bundle, options, shape, config)


def _plan(
    ray: Any, slices: list[Any], engine: RayEngineOptions, bundle: Any, options: ScoreOptions,
    shape: Shape, config: ModelConfig,
) -> Any:  # fmt: skip
    rows = 1 if bundle.spec.unit == "video" else max((i.num_frames for i in bundle.spec.inputs), default=1)
    return (
        ray.data.from_arrow(slices)
        .select_columns(["index", "path", "key"])
        .repartition(target_num_rows_per_block=engine.videos_per_block, strict=True)
        .map_batches(
            decode_block,
            batch_format="pyarrow",
            batch_size=None,
            num_cpus=shape.decode_cpus,
            # Ray's own default for tasks (Ray Data's is forever): a video that crashes its
            # decoder process three times loses its block, which is reconciled as failed rows.
            # Remote args unlike the actors' also keep Ray from fusing decoding into them.
            max_retries=DECODE_RETRIES,
            fn_kwargs={"bundle": bundle, "per_frame": options.per_frame, "decoder": options.decoder},
        )
        .map_batches(
            ModelStage,
            batch_format="pyarrow",
            batch_size=max(1, options.batch_size // rows),
            compute=ray.data.ActorPoolStrategy(size=shape.actors),
            num_cpus=shape.cpus_per_actor,
            num_gpus=shape.gpus_per_actor or None,
            fn_constructor_kwargs={"config": config},
        )
    )


class _PartWriter:
    """Rows from Ray -> Parquet parts: each manifest row written once, flushed every few seconds."""

    def __init__(
        self, out: OutDir, todo: Any, summary: ScoreSummary, on_row: RowCallback | None, every: float = 5.0
    ) -> None:
        import numpy as np

        self.out, self.todo, self.summary, self.on_row = out, todo, summary, on_row
        self.seen = np.zeros(todo.num_rows, dtype=bool)
        self.buffer: list[Any] = []
        self.buffered = 0
        self.last_flush = time.monotonic()
        self.backends: set[str] = set()
        self.every = every

    def add(self, batch: Any) -> None:
        import numpy as np
        import pyarrow as pa

        index = batch["_index"].to_numpy()
        _, first = np.unique(index, return_index=True)
        fresh = np.zeros(len(index), dtype=bool)
        fresh[first] = True
        fresh &= ~self.seen[index]  # a row delivered twice (a retried task) is written once
        self.seen[index[fresh]] = True
        kept = batch.filter(pa.array(fresh)).drop_columns(["_index"])
        if not kept.num_rows:
            return
        self.buffer.append(kept)
        self.buffered += kept.num_rows
        for row in kept.to_pylist():
            self.backends.add(row["backend"])
            self.summary.count_new(row)
            if self.on_row:
                self.on_row(row, self.summary)
        if self.buffered >= FLUSH_ROWS or time.monotonic() - self.last_flush >= self.every:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.buffer:
            self.out.write_part(pa.concat_tables(self.buffer))
        self.buffer, self.buffered, self.last_flush = [], 0, time.monotonic()

    def reconcile(self, bundle: Any, options: ScoreOptions) -> None:
        """A failed row for every manifest row Ray never delivered, saying it was lost."""
        import pyarrow as pa

        from memo.score.ray_stages import result_schema

        missing = (~self.seen).nonzero()[0]
        if not len(missing):
            return
        log.warning("%d input(s) were never delivered by Ray; writing them as failed rows", len(missing))
        columns = result_columns(bundle, options.per_frame, options.explain)
        schema = result_schema(columns, list(bundle.spec.output_names))
        rows = []
        for i in missing:
            path = self.todo["path"][int(i)].as_py()
            row: dict[str, Any] = dict.fromkeys(columns)
            row.update(_index=int(i), path=path, frames=0, status="failed", error=f"{path}: {LOST}",
                       warning="", model=bundle.spec.name, model_version=bundle.spec.version,
                       backend=options.backend, seconds=0.0, decoder="")  # fmt: skip
            rows.append(row)
        self.add(pa.Table.from_pylist(rows, schema=schema))
