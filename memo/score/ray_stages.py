"""The two stages of a cluster run, as Ray Data runs them: decode (tasks) and model (actors).

Both call the code local scoring runs, so a video gets the same frames, the same arrays and
the same row on either engine:

* :func:`decode_block` (a Ray task per block of manifest rows, on CPUs) does what the
  decoding threads of ``memo score`` do: ``path_problem`` then
  :func:`memo.data.inputs.prepare_video` (memo's index pass, keyframe sampling, decoder and
  preprocessing). An input on an object store is first copied to a local temporary file
  through ``pyarrow.fs`` (decoders need a seekable file); its row names the URI. A video
  that fails becomes its failed row right here, with the message local scoring writes.
* :class:`ModelStage` (a callable class in a fixed-size actor pool) loads the bundle once
  per actor with the chosen backend, batches the frames of the videos it is handed exactly
  as the local loop does (``runner._run_batch``), aggregates each video
  (``runner._ok_row``) and returns result rows keyed by the manifest ``index``.

A prepared video travels between the stages as one pickled ``PreparedVideo`` in a binary
column: memo's own in-flight data (never a user's file), kept as the float32 arrays the
model takes; Arrow tensor columns would need one shape per column, and a failed video has
none.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from memo.data.discover import path_problem
from memo.errors import BundleError, InputError
from memo.models.bundle import Bundle
from memo.score.manifest import is_uri


def result_schema(columns: list[str], outputs: list[str]) -> Any:
    """The Arrow types of the result columns (``_index`` first), so every block agrees."""
    import pyarrow as pa

    floats = {*outputs, "seconds"}
    fields = [pa.field("_index", pa.int64())]
    for name in columns:
        if name == "frames":
            kind = pa.int64()
        elif name in floats or name.startswith("contrib_"):
            kind = pa.float64()
        elif name == "frame_times" or name.startswith("frame_"):
            kind = pa.list_(pa.float64())
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def decode_block(batch: Any, bundle: Bundle, per_frame: bool, decoder: str) -> Any:
    """Manifest rows (``index``, ``path``) -> (``index``, pickled prepared video or failed row)."""
    import pyarrow as pa

    from memo.data.decoders import resolve_decoder

    choice = resolve_decoder(decoder, "cpu")
    payloads = []
    for path, key in zip(batch["path"].to_pylist(), batch["key"].to_pylist(), strict=True):
        try:
            item: tuple[str, Any] = ("ok", _prepare(path, key, bundle, choice))
        except Exception as exc:  # one bad video is its failed row, never the block's
            from memo.score.runner import _failed_row

            item = ("failed", _failed_row(path, exc, bundle, per_frame))
        payloads.append(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
    return pa.table({"index": batch["index"], "payload": pa.array(payloads, pa.large_binary())})


def _prepare(path: str, key: str, bundle: Bundle, decoder: Any) -> Any:
    """``prepare_video`` on the absolute path (a worker's folder is not the driver's) or on a
    local copy of a URI; the video and any message name ``path`` as local scoring does."""
    if not is_uri(path):
        problem = path_problem(key)
        if problem:  # as locally: the message names the spelling the user gave
            raise InputError(problem.replace(key, path))
        return _prepare_at(key, path, bundle, decoder)
    folder = tempfile.mkdtemp(prefix="memo-fetch-")
    try:
        return _prepare_at(_fetch(path, folder), path, bundle, decoder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _prepare_at(location: str, path: str, bundle: Bundle, decoder: Any) -> Any:
    from memo.data.inputs import prepare_video

    try:
        video = prepare_video(location, bundle.spec, {}, decoder)
    except InputError as exc:
        raise InputError(str(exc).replace(location, path)) from exc
    video.path = path
    return video


def _fetch(uri: str, folder: str) -> str:
    """Copy the object ``uri`` into ``folder`` (keeping its extension); the local path."""
    import pyarrow.fs as pafs

    fs, key = pafs.FileSystem.from_uri(uri)
    local = os.path.join(folder, "video" + os.path.splitext(key)[1])
    try:
        with fs.open_input_stream(key) as source, open(local, "wb") as sink:
            shutil.copyfileobj(source, sink, 8 << 20)
    except FileNotFoundError:
        raise InputError(f"{uri}: no such file") from None
    except OSError as exc:
        raise InputError(f"{uri}: cannot read ({' '.join(str(exc).split())})") from exc
    return local


@dataclass(frozen=True)
class ModelConfig:
    """What an actor needs to load the same model as the driver checked."""

    model: str
    num_frames: int | None
    backend: str
    device: str
    threads: int | None
    batch_size: int
    per_frame: bool
    explain: bool
    settings: dict[str, Any]  # the driver's score_settings: the actor's bundle must match
    precision: str = "fp32"


class ModelStage:
    """The model stage: one bundle and session per actor, frames batched as locally."""

    def __init__(self, config: ModelConfig) -> None:
        from pathlib import Path

        from memo.score.fast_path import RunRequest, open_session
        from memo.score.runner import ScoreOptions, prepare_bundle, result_columns
        from memo.score.settings import score_settings

        options = ScoreOptions(
            inputs=[], output=Path("unused.csv"), model=config.model, backend=config.backend,
            device=config.device, batch_size=config.batch_size, num_frames=config.num_frames,
            threads=config.threads, per_frame=config.per_frame, explain=config.explain,
            precision=config.precision,
        )  # fmt: skip
        self.config = config
        self.bundle = prepare_bundle(options)
        if score_settings(self.bundle, config.precision) != config.settings:
            raise BundleError(
                f"model {config.model!r} on this Ray node differs from the driver's (weights or "
                "settings); every node must see the same bundle"
            )
        # named=False: an actor never builds the first-use export (auto: onnx if one exists, else torch)
        run = RunRequest(config.backend, config.device, config.precision, config.threads, config.batch_size)
        self.session, _ = open_session(self.bundle, run, named=False)
        if config.explain:
            from memo.score.contrib import ContributionSession

            self.session = ContributionSession(self.session, self.bundle)
        self.backend = str(getattr(self.session, "chosen", self.session.backend))
        columns = result_columns(self.bundle, config.per_frame, config.explain)
        self.schema = result_schema(columns, list(self.bundle.spec.output_names))

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows = score_payloads(
            batch["index"].to_pylist(), batch["payload"].to_pylist(), self.bundle, self.session,
            self.config.batch_size, self.config.per_frame,
        )  # fmt: skip
        for row in rows:  # as locally: every row says which backend the run used
            row["backend"] = self.backend
        return pa.Table.from_pylist(rows, schema=self.schema)


def score_payloads(
    indexes: list[int], payloads: list[bytes], bundle: Bundle, session: Any, batch_size: int, per_frame: bool
) -> list[dict[str, Any]]:
    """Run the prepared videos through the local loop's batching and aggregation; one row each."""
    from memo.score.runner import _ok_row, _Pending, _run_batch

    rows: list[dict[str, Any]] = []
    queue: list[tuple[Any, int]] = []
    owner: dict[int, int] = {}  # id(pending) -> manifest index
    queued = 0
    for index, payload in zip(indexes, payloads, strict=True):
        kind, item = pickle.loads(payload)  # memo's own in-flight data, never a user file
        if kind == "failed":
            rows.append({"_index": index, **item})
            continue
        pending = _Pending(item, rows_left=item.rows)
        owner[id(pending)] = index
        queue.append((pending, 0))
        queued += item.rows
        while queued >= batch_size:
            queue, queued, finished = _run_batch(queue, queued, session, batch_size)
            rows += [{"_index": owner[id(p)], **_ok_row(p, bundle, per_frame)} for p in finished]
    while queue:
        queue, queued, finished = _run_batch(queue, queued, session, batch_size)
        rows += [{"_index": owner[id(p)], **_ok_row(p, bundle, per_frame)} for p in finished]
    return rows
