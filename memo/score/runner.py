"""Score a library of videos: discover -> decode (workers) -> batched inference -> rows.

The per-video loop follows video_features' policy, hardened: inputs are de-duplicated
up front, videos already in the output are skipped on ``resume``, every exception from a
video becomes a failed row (``KeyboardInterrupt`` is re-raised after the finished rows
are safely written), and the summary says what failed.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from memo.data.decoders import DecoderChoice, resolve_decoder
from memo.data.discover import DEFAULT_EXTENSIONS, discover_videos, path_problem
from memo.data.inputs import PreparedVideo, StreamProvider, prepare_video
from memo.data.prefetch import prefetch
from memo.data.streams import needs_frames, provider_ids
from memo.errors import InputError, MemoError
from memo.models.bundle import Bundle
from memo.models.named import DEFAULT_MODEL, NAMED, resolve_model
from memo.models.spec import ModelSpec
from memo.runtime.base import Session, resolve_device
from memo.runtime.threads import DEFAULT_BATCH_SIZE
from memo.score.fast_path import Choice, Notify, RunRequest, open_session
from memo.score.settings import check_resume, score_settings, sidecar_path, write_sidecar
from memo.score.setup import check_fixed_frames, check_numbers, check_output, check_side_inputs
from memo.score.sources import listed_inputs
from memo.score.summary import ScoreSummary
from memo.score.writers import ROW_COLUMNS, ResultWriter, open_writer

log = logging.getLogger(__name__)

# While scoring, the model (main thread) and the decoders (worker threads) share the GIL.
# After each PyTorch op the main thread must win the GIL back from a decoder that holds it
# in Python code, which by default can take the whole 5 ms switch interval: a ResNet-152
# forward is hundreds of module calls, so the model waits seconds per batch. A short
# interval hands the GIL back quickly (see docs/performance.md).
SWITCH_INTERVAL = 0.0002


@dataclass
class ScoreOptions:
    inputs: Sequence[str]
    output: Path
    model: str = DEFAULT_MODEL
    backend: str = "auto"  # onnx when a validated export exists (built on first use for the default model)
    device: str = "auto"
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int = 2
    num_frames: int | None = None  # override the bundle's keyframe count
    per_frame: bool = False
    resume: bool = False
    overwrite: bool = False
    extensions: Sequence[str] = DEFAULT_EXTENSIONS
    # auto, pyav or dali (memo.data.decoders), or the choice already resolved (memo score resolves
    # it once, with the other option checks, and passes it down; the Ray engine takes a name)
    decoder: str | DecoderChoice = "auto"
    providers: Mapping[str, StreamProvider] = field(default_factory=dict)
    threads: int | None = None  # intra-op threads of PyTorch / ONNX Runtime (None: memo's default)
    precision: str = "fp32"  # which build runs: fp32, fp16 (CUDA / ONNX) or int8 (ONNX, memo export --int8)
    files_from: str | Path | None = None  # one path per line; "-" = standard input
    manifest: Path | None = None  # CSV / Parquet with a column of paths
    path_column: str = "path"
    retry_failed: bool = True  # on resume, score the file's failed rows again
    explain: bool = False  # add the model's per-module contribution columns (memo.score.contrib)


ProgressCallback = Callable[[dict[str, Any], ScoreSummary], None]


def result_columns(bundle: Bundle, per_frame: bool, explain: bool = False) -> list[str]:
    from memo.score.contrib import contribution_columns

    outputs = list(bundle.spec.output_names)
    columns = ["path", *outputs, *(contribution_columns(bundle) if explain else []), *ROW_COLUMNS]
    if per_frame:
        columns += ["frame_times", *(f"frame_{name}" for name in outputs)]
    return columns


def prepare_bundle(options: ScoreOptions) -> Bundle:
    bundle = resolve_model(options.model)
    if options.num_frames is not None:
        if options.num_frames < 1:
            raise MemoError("--frames must be at least 1")
        if "num_frames" in bundle.spec.arch_args:  # the architecture is built for that many frames
            raise MemoError(
                f"--frames: model {bundle.spec.name!r} scores whole videos from a fixed number of frames "
                "(set when it was built); drop --frames"
            )
        inputs = tuple(
            replace(i, num_frames=options.num_frames) if i.stream == "keyframes" else i
            for i in bundle.spec.inputs
        )
        bundle = Bundle(bundle.path, bundle.spec.with_(inputs=inputs))
    return bundle


def score_videos(
    options: ScoreOptions,
    on_start: Callable[[int, int], None] | None = None,
    on_row: ProgressCallback | None = None,
    on_note: Notify | None = None,
) -> ScoreSummary:
    """Score every input of ``options`` into ``options.output``; the summary covers the whole file.

    Everything that does not depend on one video (options, model, side inputs, output
    location, resume settings, backend and device) is checked first and raises
    :class:`MemoError` before any output is created or changed. Problems with single
    videos become failed rows. ``on_start(total, skipped)`` is called once the work is
    known; ``on_row(row, summary)`` after each row; ``on_note(line)`` says what the run chose.
    """
    check_numbers(options.batch_size, options.workers, options.threads, options.precision)
    if options.explain and options.backend == "auto":  # contributions come from the torch module
        options = replace(options, backend="torch")
    check_output(options.output, resume=options.resume, overwrite=options.overwrite)
    bundle = prepare_bundle(options)
    if options.explain:
        from memo.score.contrib import check_explain

        check_explain(bundle, options.backend)
    check_side_inputs(bundle.spec, options.providers)
    decoder = (
        options.decoder
        if isinstance(options.decoder, DecoderChoice)
        else resolve_decoder(options.decoder, resolve_device(options.device))
    )
    paths = _inputs(options, bundle)
    settings = score_settings(bundle, options.precision)
    previous = check_resume(options.output, settings) if options.resume else None
    run = RunRequest(options.backend, options.device, options.precision, options.threads, options.batch_size)
    session, choice = open_session(bundle, run, options.model in NAMED, on_note)  # auto: see fast_path
    if options.explain:
        from memo.score.contrib import ContributionSession

        session = ContributionSession(session, bundle)
    backend = str(getattr(session, "chosen", session.backend))  # auto -> what it picked
    check_fixed_frames(bundle.path, options.num_frames, backend)
    device = str(getattr(session, "inner", session).device)  # auto's own device names its choice again
    log.info("scoring %d inputs with %s on %s/%s", len(paths), bundle.label, backend, device)
    keys = {_same_file_key(p) for p in paths}
    dropped: list[str] = []

    def drop(row: dict[str, Any]) -> bool:  # failed rows of this run's inputs are scored again
        again = options.retry_failed and row.get("status") != "ok" and _same_file_key(row["path"]) in keys
        if again:
            dropped.append(row["path"])
        return again

    writer = _open(options, bundle, settings, choice, previous, drop)
    decoder_name = decoder.name if needs_frames(bundle.spec) else "none (the model reads no video)"
    summary = ScoreSummary(options.output, bundle.label, backend, device, decoder_name)
    summary.choice = choice.to_json()
    new_rows: list[dict[str, Any]] = []
    try:
        done = {_same_file_key(p) for p in writer.done}  # ./videos/a.mp4 and /abs/videos/a.mp4 match
        todo = [p for p in paths if _same_file_key(p) not in done]
        summary.skipped, summary.retried = len(paths) - len(todo), len(dropped)
        if on_start:
            on_start(len(paths), summary.skipped)
        started = time.perf_counter()
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
        try:
            for row in _score_rows(todo, bundle, session, options, decoder):
                row["backend"] = backend
                writer.write(row)
                new_rows.append(row)
                summary.count_new(row)
                summary.seconds = time.perf_counter() - started
                _log_row(row, bundle)
                if on_row:
                    on_row(row, summary)
        except KeyboardInterrupt:
            summary.interrupted = True
            raise
        finally:
            sys.setswitchinterval(switch)
            summary.seconds = time.perf_counter() - started
    finally:
        writer.close()
        summary.set_file_rows([*writer.done.values(), *new_rows], bundle.spec.output_names[0])
    return summary


def _inputs(options: ScoreOptions, bundle: Bundle) -> list[str]:
    """The paths (or, for a bundle that needs no frames, the ids) this run scores."""
    listed = listed_inputs(options.inputs, options.files_from, options.manifest, options.path_column)
    if not needs_frames(bundle.spec):
        if not listed:
            listed = provider_ids(options.providers)
        ids: dict[str, None] = {}
        for item in listed:  # folders are expanded; anything else is an id, never opened
            found = discover_videos([item], options.extensions) if Path(item).is_dir() else [item]
            ids.update(dict.fromkeys(found))
        if not ids:
            raise MemoError("nothing to score: the caption / feature file has no ids")
        return list(ids)
    if not listed:
        raise MemoError("nothing to score: give video files or folders, --files-from or --manifest")
    paths = discover_videos(listed, options.extensions)
    if not paths:
        shown = ", ".join(str(p) for p in listed[:3]) + (" ..." if len(listed) > 3 else "")
        raise MemoError(f"no videos found under {shown} (extensions: {', '.join(options.extensions)})")
    return paths


def _open(
    options: ScoreOptions,
    bundle: Bundle,
    settings: dict[str, Any],
    choice: Choice,
    previous: dict[str, Any] | None,
    drop: Callable[[dict[str, Any]], bool],
) -> ResultWriter:
    """The settings record first, then the result file (a fresh record goes if that fails)."""
    fresh = previous is None
    write_sidecar(options.output, settings, choice.backend, previous, choice.to_json())
    try:
        return open_writer(
            options.output,
            result_columns(bundle, options.per_frame, options.explain),
            resume=options.resume,
            overwrite=options.overwrite,
            drop=drop,
        )
    except BaseException:
        if fresh and not options.output.exists():
            sidecar_path(options.output).unlink(missing_ok=True)
        raise


def _log_row(row: dict[str, Any], bundle: Bundle) -> None:
    if row["status"] == "ok":
        log.debug(
            "scored %s: %s=%r", row["path"], bundle.spec.output_names[0], row[bundle.spec.output_names[0]]
        )
    else:
        log.debug("failed %s", row["error"])


def _same_file_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


@dataclass
class _Pending:
    video: PreparedVideo
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    rows_left: int = 0
    infer_seconds: float = 0.0


def _score_rows(
    paths: Sequence[str], bundle: Bundle, session: Session, options: ScoreOptions, decoder: DecoderChoice
) -> Iterator[dict[str, Any]]:
    """Yield one finished row per path, in completion order."""
    spec = bundle.spec

    frames = needs_frames(spec)

    def prepare(path: str) -> PreparedVideo:
        problem = path_problem(path) if frames else None  # ids of text/features bundles are not files
        if problem:
            raise InputError(problem)
        return prepare_video(path, spec, options.providers, decoder)

    queue: list[tuple[_Pending, int]] = []  # (video, first row not yet batched)
    queued_rows = 0
    for path, prepared in prefetch(paths, prepare, workers=options.workers, depth=_depth(spec, options)):
        if isinstance(prepared, Exception):
            yield _failed_row(path, prepared, bundle, options.per_frame)
            continue
        queue.append((_Pending(prepared, rows_left=prepared.rows), 0))
        queued_rows += prepared.rows
        while queued_rows >= options.batch_size:
            queue, queued_rows, finished = _run_batch(queue, queued_rows, session, options.batch_size)
            yield from (_ok_row(p, bundle, options.per_frame) for p in finished)
    while queue:
        queue, queued_rows, finished = _run_batch(queue, queued_rows, session, options.batch_size)
        yield from (_ok_row(p, bundle, options.per_frame) for p in finished)


def _depth(spec: ModelSpec, options: ScoreOptions) -> int:
    """Videos decoded ahead: two batches' worth of rows plus one per worker.

    The old fixed ``2 * workers`` (4 videos = 28 rows of 7 frames) held less than two
    batches of 16, so the model waited on the decoders at every batch boundary.
    """
    rows = 1 if spec.unit == "video" else max((i.num_frames for i in spec.inputs), default=1)
    return max(2 * options.workers, options.workers + -(-2 * options.batch_size // rows))


def _run_batch(
    queue: list[tuple[_Pending, int]], queued_rows: int, session: Session, batch_size: int
) -> tuple[list[tuple[_Pending, int]], int, list[_Pending]]:
    """Run one batch of up to ``batch_size`` rows taken from the front of the queue."""
    parts: list[tuple[_Pending, int, int]] = []  # (video, start, stop)
    taken = 0
    rest: list[tuple[_Pending, int]] = []
    for pending, start in queue:
        if taken >= batch_size:
            rest.append((pending, start))
            continue
        stop = min(pending.video.rows, start + batch_size - taken)
        parts.append((pending, start, stop))
        taken += stop - start
        if stop < pending.video.rows:
            rest.append((pending, stop))
    names = list(parts[0][0].video.arrays)
    batch = {n: _concat([p.video.arrays[n][a:b] for p, a, b in parts]) for n in names}
    t0 = time.perf_counter()
    try:
        outputs = session.run(batch)
    except Exception as exc:  # a batch that fails fails its videos, not the run
        outputs = None
        error = exc
    seconds = time.perf_counter() - t0
    finished: list[_Pending] = []
    offset = 0
    for pending, a, b in parts:
        n = b - a
        if outputs is None:
            pending.outputs = {"__error__": [np.asarray([str(error)])]}
        elif "__error__" not in pending.outputs:
            for name, value in outputs.items():
                pending.outputs.setdefault(name, []).append(np.asarray(value[offset : offset + n]))
        pending.infer_seconds += seconds * n / taken
        pending.rows_left -= n
        offset += n
        if pending.rows_left == 0:
            finished.append(pending)
    return rest, queued_rows - taken, finished


def _concat(parts: list[Any]) -> Any:
    """Join row slices: NumPy arrays, or torch tensors in device memory (DALI on a GPU)."""
    tensors = [part for part in parts if hasattr(part, "permute")]
    if tensors:
        import torch

        # a file that fell back to PyAV joins the others on their device
        return torch.cat([torch.as_tensor(part, device=tensors[0].device) for part in parts])
    return np.concatenate(parts)


def _base_row(path: str, bundle: Bundle) -> dict[str, Any]:
    row: dict[str, Any] = {"path": path}
    row.update({name: None for name in bundle.spec.output_names})
    row.update(frames=0, status="failed", error="", warning="", model=bundle.spec.name,
               model_version=bundle.spec.version, backend="", seconds=0.0, decoder="")  # fmt: skip
    return row


def _ok_row(pending: _Pending, bundle: Bundle, per_frame: bool) -> dict[str, Any]:
    video = pending.video
    row = _base_row(video.path, bundle)
    row["seconds"] = round(video.seconds + pending.infer_seconds, 4)
    row["frames"] = video.frames
    row["decoder"] = video.decoder
    if "__error__" in pending.outputs:
        row["error"] = f"{video.path}: inference failed ({pending.outputs['__error__'][0][0]})"
        if per_frame:
            row.update({f"frame_{n}": None for n in bundle.spec.output_names}, frame_times=None)
        return row
    row["status"] = "ok"
    row["warning"] = "; ".join(dict.fromkeys(video.warnings))
    for name in bundle.spec.output_names:
        values = np.concatenate(pending.outputs[name]).astype(np.float64).reshape(-1)
        row[name] = bundle.spec.aggregate_rows(values)
        if per_frame:
            row[f"frame_{name}"] = [float(v) for v in values]
    if per_frame:
        row["frame_times"] = list(video.times) if video.times else None
    for name in (n for n in pending.outputs if n.startswith("contrib_")):  # --explain
        row[name] = float(np.concatenate(pending.outputs[name]).astype(np.float64).mean())
    return row


def _failed_row(path: str, exc: Exception, bundle: Bundle, per_frame: bool) -> dict[str, Any]:
    row = _base_row(path, bundle)
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, MemoError):
        message = f"{path}: {type(exc).__name__}: {message}"
        log.debug("unexpected error on %s", path, exc_info=exc)
    row["error"] = message
    if per_frame:
        row.update({f"frame_{n}": None for n in bundle.spec.output_names}, frame_times=None)
    return row
