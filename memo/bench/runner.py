"""``memo bench``: one row per backend x precision x batch size; the loop never raises.

Each row times ``session.run`` on a batch of real decoded frames (warm-up first, then
synchronised timers), samples peak memory, and scores the sample videos to compare the
per-video scores with PyTorch fp32 on the same videos (Spearman and max abs diff, judged
by export's own check, :func:`memo.export.parity.parity_problems`: a row that misses it is
``failed``). With an explicit ``videos`` folder each row also times decode + inference per
video, so the bottleneck of the end-to-end path is visible.

Each model is fed its own inputs, as its spec declares them (keyframes, clips, low-level
measurements; captions and precomputed features from the tables ``text`` / ``features``, as
``memo score`` takes them), decoded by the run's decoder (``auto``, ``pyav``, ``dali``): the
parity reference, the timed batches and the end-to-end pass all use the same decoder's frames.
A model that reads no video is benchmarked on the first ids of its caption / feature tables,
as ``memo export`` validates it (:func:`memo.export.samples.sample_inputs`); a missing table, a
table for an input the model lacks, or ``videos`` for such a model is an error before any work.

Nothing here is written per backend: the backend matrix and artifact names come from the
format table (:mod:`memo.formats`), every backend is loaded with the same
:class:`~memo.runtime.options.LoadOptions`, and what a backend cannot do is its own
``unavailable`` reason.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from memo.bench.env import environment, load_average
from memo.bench.measure import PeakRss, percentiles_ms, rss_bytes, time_calls
from memo.bench.options import BenchOptions, check_options
from memo.bench.rows import BenchRow
from memo.data.decoders import DecoderChoice, resolve_decoder
from memo.data.inputs import PreparedVideo, StreamProvider, prepare_video
from memo.data.streams import open_side_inputs
from memo.export.parity import SPEARMAN_FLOOR, parity_problems, spearman, tolerance
from memo.export.samples import prepare_samples, sample_inputs
from memo.formats import WEIGHTS_BACKEND
from memo.models.bundle import Bundle
from memo.models.named import resolve_model
from memo.runtime.artifacts import artifact_file, missing_artifact
from memo.runtime.base import Session, get_backend, load_session, resolve_device
from memo.runtime.options import LoadOptions, check_load_options
from memo.runtime.threads import default_threads

log = logging.getLogger(__name__)


@dataclass
class BenchReport:
    model: str
    device: str
    environment: dict[str, Any]
    videos: list[str]
    end_to_end: bool
    decoder: str = ""  # the run's decoder; "dali+pyav" when some files fell back
    rows: list[BenchRow] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "environment": self.environment,
            "videos": self.videos,
            "end_to_end": self.end_to_end,
            "decoder": self.decoder,
            "parity_reference": "torch fp32 on the same device and videos",
            "spearman_floor": SPEARMAN_FLOOR,
            "rows": [r.to_json() for r in self.rows],
        }


def stream_providers(bundle: Bundle, options: BenchOptions, device: str) -> dict[str, StreamProvider]:
    """The caption / feature inputs: ``options.providers`` and the tables of ``options.text`` /
    ``options.features`` opened, checked against the bundle's inputs first."""
    return open_side_inputs(
        bundle,
        options,
        device=device,
        videos=options.videos,
        purpose="to benchmark",
        opened=options.providers,
    )


def run_bench(options: BenchOptions, on_row: Callable[[BenchRow], None] | None = None) -> BenchReport:
    check_options(options)
    options = replace(options, default_threads=options.threads or default_threads())  # fixed per run
    bundle = resolve_model(options.model)
    device = resolve_device(options.device)
    options = replace(options, providers=stream_providers(bundle, options, device))
    decoder = resolve_decoder(options.decoder, device)
    inputs = sample_inputs(bundle.spec, options.videos, options.sample_count, options.providers)
    samples = prepare_samples(bundle.spec, inputs, options.providers, decoder)
    used = "+".join(sorted({part for s in samples for part in s.decoder.split("+") if part})) or "none"
    report = BenchReport(
        bundle.label, device, environment(), [s.path for s in samples], options.videos is not None, used
    )
    reference = _reference_scores(bundle, device, samples)
    for backend in options.backends:
        for precision in options.precisions:
            pair = _bench_pair(bundle, device, backend, precision, samples, reference, options, decoder)
            for row in pair:
                report.rows.append(row)
                if on_row:
                    on_row(row)
    report.environment["load_average_end"] = load_average()
    report.environment["threads"] = options.default_threads
    return report


def _reference_scores(bundle: Bundle, device: str, samples: Sequence[PreparedVideo]) -> list[float] | None:
    try:
        session = load_session(bundle, WEIGHTS_BACKEND, device)  # the parity reference: the weights, fp32
        return [_video_score(session, s.arrays, s.rows, bundle) for s in samples]
    except Exception as exc:  # no reference: parity columns stay empty
        log.warning("no PyTorch fp32 reference for parity: %s", exc)
        return None
    finally:
        gc.collect()


def load_options(options: BenchOptions, precision: str, backend: str | None = None) -> LoadOptions:
    """The same load options for every backend: a backend that cannot honour them says so.

    Without ``--threads`` the backends that take threads get memo score's default
    (:func:`memo.runtime.threads.default_threads`, computed once per run), the others none."""
    threads = options.threads
    if threads is None and backend is not None and "threads" in get_backend(backend).options:
        threads = options.default_threads or default_threads()
    return LoadOptions(precision=precision, threads=threads)


def unavailable_reason(bundle: Bundle, device: str, backend: str, load: LoadOptions) -> str | None:
    """Why ``backend`` cannot be measured here with ``load``; ``None`` when it can."""
    try:
        impl = get_backend(backend)
        check_load_options(backend, impl.options, load)
        return impl.unavailable_reason(device, load) or missing_artifact(bundle, backend, load.precision)
    except Exception as exc:
        return str(exc)


def model_mb(path: Path) -> float:
    files = [path, path.with_name(f"{path.name}.data")]
    return round(sum(p.stat().st_size for p in files if p.is_file()) / 2**20, 1)


def _bench_pair(
    bundle: Bundle,
    device: str,
    backend: str,
    precision: str,
    samples: Sequence[PreparedVideo],
    reference: list[float] | None,
    options: BenchOptions,
    decoder: DecoderChoice,
) -> list[BenchRow]:
    rows = [BenchRow(backend, precision, b, device=device) for b in options.batch_sizes]
    try:
        load = load_options(options, precision, backend)
    except Exception:  # an unknown or broken backend: its rows say why below
        load = load_options(options, precision)
    reason = unavailable_reason(bundle, device, backend, load)
    if reason:
        for row in rows:
            row.status, row.reason = "unavailable", reason
        return rows
    _reset_cuda_peak(device)
    baseline = rss_bytes()
    try:
        session = load_session(bundle, backend, device, load)
    except Exception as exc:
        for row in rows:
            row.status, row.reason = "failed", f"load: {_short(exc)}"
        return rows
    try:
        for row in rows:
            try:
                _measure(row, session, bundle, samples, reference, options, baseline, decoder)
            except Exception as exc:  # every failure is a row
                log.debug("bench row failed", exc_info=exc)
                row.status, row.reason = "failed", _short(exc)
    finally:
        del session
        gc.collect()
    return rows


def _measure(
    row: BenchRow,
    session: Session,
    bundle: Bundle,
    samples: Sequence[PreparedVideo],
    reference: list[float] | None,
    options: BenchOptions,
    baseline: int,
    decoder: DecoderChoice,
) -> None:
    cuda = row.device.startswith("cuda")  # the device asked for; then what the session runs on
    row.device = session.device
    row.model_mb = model_mb(artifact_file(bundle, row.backend, row.precision))
    batch = _batch_of(samples, row.batch)
    sync = _cuda_sync if cuda else _no_sync
    # Timed without the memory sampler (its thread would compete with the workers), then one
    # more batch and the parity pass run under it.
    times = time_calls(
        lambda: session.run(batch), sync, options.warmup, options.iterations, options.max_seconds
    )
    with PeakRss(baseline) as rss:
        session.run(batch)
        scores, decode_s, infer_s = _score_videos(session, bundle, samples, row.batch, options, decoder)
    row.iterations = len(times)
    row.latency_p50_ms, row.latency_p90_ms, row.latency_p99_ms = (round(v, 3) for v in percentiles_ms(times))
    row.frames_per_s = round(row.batch * len(times) / sum(times), 3)
    rows_per_video = float(np.mean([s.rows for s in samples]))
    row.videos_per_s = round(row.frames_per_s / rows_per_video, 3)
    row.peak_mem_mb, row.peak_mem_kind = _peak_memory(cuda, rss)
    if options.videos is not None:
        count = len(samples)
        row.decode_ms_per_video = round(1000 * decode_s / count, 2)
        row.infer_ms_per_video = round(1000 * infer_s / count, 2)
        row.e2e_videos_per_s = round(count / (decode_s + infer_s), 3)
        row.bottleneck = "decode" if decode_s > infer_s else "inference"
    if reference is not None:
        row.parity_videos = len(scores)
        row.max_abs_diff = float(np.max(np.abs(np.asarray(scores) - np.asarray(reference))))
        row.spearman = spearman(reference, scores)
        atol = tolerance(row.precision, bundle.spec.export_atol)
        problems = parity_problems(row.precision, row.max_abs_diff, row.spearman, atol)
        if problems:
            row.status, row.reason = "failed", f"{'; '.join(problems)} vs torch fp32"


def _score_videos(
    session: Session,
    bundle: Bundle,
    samples: Sequence[PreparedVideo],
    batch: int,
    options: BenchOptions,
    decoder: DecoderChoice,
) -> tuple[list[float], float, float]:
    """Per-video scores at this batch size; with ``videos``, decoding is redone and timed."""
    scores: list[float] = []
    decode_s = infer_s = 0.0
    for sample in samples:
        if options.videos is not None:
            t0 = time.perf_counter()
            sample = prepare_video(sample.path, bundle.spec, options.providers, decoder)
            decode_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        scores.append(_video_score(session, sample.arrays, sample.rows, bundle, batch))
        infer_s += time.perf_counter() - t0
    return scores, decode_s, infer_s


def _video_score(
    session: Session,
    arrays: Mapping[str, np.ndarray],
    rows: int,
    bundle: Bundle,
    batch: int | None = None,
) -> float:
    step = batch or rows
    first = bundle.spec.output_names[0]
    parts = []
    for start in range(0, rows, step):
        feed = {k: v[start : start + step] for k, v in arrays.items()}
        parts.append(np.asarray(session.run(feed)[first], dtype=np.float64).reshape(-1))
    return bundle.spec.aggregate_rows(np.concatenate(parts))


def _batch_of(samples: Sequence[PreparedVideo], size: int) -> dict[str, np.ndarray]:
    """``size`` rows of real frames (cycling over the samples' rows)."""
    names = list(samples[0].arrays)
    batch = {}
    for name in names:
        every = np.concatenate([_host(s.arrays[name]) for s in samples])
        index = np.arange(size) % every.shape[0]
        batch[name] = np.ascontiguousarray(every[index], dtype=np.float32)
    return batch


def _host(array: Any) -> np.ndarray:
    """A NumPy array (frames DALI left on a GPU are copied once, to build the timed batch)."""
    return array.cpu().numpy() if hasattr(array, "cpu") else np.asarray(array)


def _peak_memory(cuda: bool, rss: PeakRss) -> tuple[float, str]:
    if cuda:
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1), "torch cuda max allocated"
    return round(rss.delta_mb, 1), "rss delta"


def _reset_cuda_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def _cuda_sync() -> None:
    import torch

    torch.cuda.synchronize()


def _no_sync() -> None:
    return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
