"""Score a library of videos: discover -> decode (workers) -> batched inference -> rows.

The per-video loop follows video_features' policy, hardened: inputs are de-duplicated
up front, videos already in the output are skipped on ``resume``, every exception from a
video becomes a failed row (``KeyboardInterrupt`` is re-raised after the finished rows
are safely written), and the summary says what failed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from memo.data.decoders import DecoderChoice, resolve_decoder
from memo.data.discover import DEFAULT_EXTENSIONS, discover_videos
from memo.data.inputs import PreparedVideo, StreamProvider, prepare_video
from memo.data.prefetch import prefetch
from memo.errors import MemoError, OutputError
from memo.models.bundle import Bundle
from memo.models.named import DEFAULT_MODEL, resolve_model
from memo.runtime.base import Session, load_session, resolve_device
from memo.score.writers import open_writer

log = logging.getLogger(__name__)


@dataclass
class ScoreOptions:
    inputs: Sequence[str]
    output: Path
    model: str = DEFAULT_MODEL
    backend: str = "torch"
    device: str = "auto"
    batch_size: int = 16
    workers: int = 2
    num_frames: int | None = None  # override the bundle's keyframe count
    per_frame: bool = False
    resume: bool = False
    overwrite: bool = False
    extensions: Sequence[str] = DEFAULT_EXTENSIONS
    decoder: str = "auto"  # auto, pyav or dali (memo.data.decoders)
    providers: Mapping[str, StreamProvider] = field(default_factory=dict)


@dataclass
class ScoreSummary:
    output: Path
    model: str
    backend: str
    device: str
    decoder: str = ""  # the run's decoder; rows say which one each file used (fallbacks)
    total: int = 0
    skipped: int = 0  # already in the output (resume)
    scored: int = 0
    failed: int = 0
    warned: int = 0
    seconds: float = 0.0
    scores: list[tuple[str, float]] = field(default_factory=list)  # (path, first output)
    failures: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def videos_per_second(self) -> float:
        done = self.scored + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_score(self) -> float | None:
        return float(np.mean([s for _, s in self.scores])) if self.scores else None

    def ranked(self) -> list[tuple[str, float]]:
        return sorted(self.scores, key=lambda item: item[1], reverse=True)

    def to_json(self, top: int = 5) -> dict[str, Any]:
        ranked = self.ranked()
        return {
            "output": str(self.output),
            "model": self.model,
            "backend": self.backend,
            "device": self.device,
            "decoder": self.decoder,
            "total": self.total,
            "skipped": self.skipped,
            "scored": self.scored,
            "failed": self.failed,
            "with_warnings": self.warned,
            "seconds": round(self.seconds, 3),
            "videos_per_second": round(self.videos_per_second, 3),
            "mean_score": self.mean_score,
            "top": [{"path": p, "score": s} for p, s in ranked[:top]],
            # the least memorable, without repeating any of the top ones on small runs
            "bottom": [{"path": p, "score": s} for p, s in ranked[max(top, len(ranked) - top) :][::-1]],
            "failures": [{"path": p, "error": e} for p, e in self.failures],
            "interrupted": self.interrupted,
        }


ProgressCallback = Callable[[dict[str, Any], ScoreSummary], None]


def result_columns(bundle: Bundle, per_frame: bool) -> list[str]:
    outputs = list(bundle.spec.output_names)
    columns = ["path", *outputs, "frames", "status", "error", "warning"]
    columns += ["model", "model_version", "seconds", "decoder"]
    if per_frame:
        columns += [f"frame_{name}" for name in outputs]
    return columns


def prepare_bundle(options: ScoreOptions) -> Bundle:
    bundle = resolve_model(options.model)
    if options.num_frames is not None:
        if options.num_frames < 1:
            raise MemoError("--frames must be at least 1")
        if "frames" in bundle.spec.arch_args:  # the architecture is built for that many frames
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
) -> ScoreSummary:
    """Score every video under ``options.inputs`` into ``options.output``.

    ``on_start(total, skipped)`` is called once the work is known; ``on_row(row, summary)``
    after each row is written. Raises :class:`MemoError` for problems with the run itself
    (bad model, bad output file); problems with single videos become failed rows.
    """
    if options.batch_size < 1:
        raise MemoError("--batch-size must be at least 1")
    decoder = resolve_decoder(options.decoder, resolve_device(options.device))
    bundle = prepare_bundle(options)
    paths = discover_videos(options.inputs, options.extensions)
    if not paths:
        shown = ", ".join(str(p) for p in options.inputs)
        raise MemoError(f"no videos found under {shown} (extensions: {', '.join(options.extensions)})")
    columns = result_columns(bundle, options.per_frame)
    writer = open_writer(options.output, columns, resume=options.resume, overwrite=options.overwrite)
    try:
        _check_same_model(options.output, writer.done.values(), bundle)
        device = resolve_device(options.device)
    except BaseException:
        writer.close()
        raise
    summary = ScoreSummary(options.output, bundle.label, options.backend, device, decoder.name, len(paths))
    try:
        done = {_same_file_key(p) for p in writer.done}  # ./videos/a.mp4 and /abs/videos/a.mp4 match
        todo = [p for p in paths if _same_file_key(p) not in done]
        summary.skipped = len(paths) - len(todo)
        session = load_session(bundle, options.backend, device)
        summary.device = session.device
        if on_start:
            on_start(len(paths), summary.skipped)
        started = time.perf_counter()

        def emit(row: dict[str, Any]) -> None:
            writer.write(row)
            _count(summary, row, bundle)
            summary.seconds = time.perf_counter() - started
            if on_row:
                on_row(row, summary)

        try:
            for row in _score_rows(todo, bundle, session, options, decoder):
                emit(row)
        except KeyboardInterrupt:
            summary.interrupted = True
            raise
        finally:
            summary.seconds = time.perf_counter() - started
    finally:
        writer.close()
    return summary


def _check_same_model(output: Path, rows: Iterable[Mapping[str, Any]], bundle: Bundle) -> None:
    """Refuse to resume a file scored by another model: its scores would not be comparable."""
    this = (bundle.spec.name, str(bundle.spec.version))
    others = sorted({(str(r.get("model")), str(r.get("model_version"))) for r in rows} - {this})
    if others:
        found = ", ".join(f"{name} {version}" for name, version in others)
        raise OutputError(
            f"{output}: holds scores from model {found}, this run uses {this[0]} {this[1]} "
            "(use another output file, or --overwrite)"
        )


def _same_file_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _count(summary: ScoreSummary, row: dict[str, Any], bundle: Bundle) -> None:
    if row["status"] == "ok":
        summary.scored += 1
        summary.scores.append((row["path"], float(row[bundle.spec.output_names[0]])))
        if row["warning"]:
            summary.warned += 1
    else:
        summary.failed += 1
        summary.failures.append((row["path"], row["error"]))


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

    def prepare(path: str) -> PreparedVideo:
        return prepare_video(path, spec, options.providers, decoder)

    queue: list[tuple[_Pending, int]] = []  # (video, first row not yet batched)
    queued_rows = 0
    for path, prepared in prefetch(paths, prepare, workers=options.workers):
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
               model_version=bundle.spec.version, seconds=0.0, decoder="")  # fmt: skip
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
            row.update({f"frame_{n}": None for n in bundle.spec.output_names})
        return row
    row["status"] = "ok"
    row["warning"] = "; ".join(dict.fromkeys(video.warnings))
    for name in bundle.spec.output_names:
        values = np.concatenate(pending.outputs[name]).astype(np.float64).reshape(-1)
        row[name] = bundle.spec.aggregate_rows(values)
        if per_frame:
            row[f"frame_{name}"] = [round(float(v), 6) for v in values]
    return row


def _failed_row(path: str, exc: Exception, bundle: Bundle, per_frame: bool) -> dict[str, Any]:
    row = _base_row(path, bundle)
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, MemoError):
        message = f"{path}: {type(exc).__name__}: {message}"
        log.debug("unexpected error on %s", path, exc_info=exc)
    row["error"] = message
    if per_frame:
        row.update({f"frame_{n}": None for n in bundle.spec.output_names})
    return row
