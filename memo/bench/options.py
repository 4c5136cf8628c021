"""The options of ``memo bench`` and their checks: plain data, no torch.

The checks here need neither torch nor the model (backend and precision names from the format
table, the decoder's name, sizes, the table options, that the files named exist), so ``memo bench`` runs them before
importing either; :func:`memo.bench.runner.run_bench` runs them again first, for a caller from
Python. What a backend cannot do here is its row's ``unavailable`` reason, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from memo.data.decoders.names import check_decoder_name
from memo.data.tables import check_table_files, check_table_options
from memo.errors import MemoError
from memo.export.options import check_bundle_path, check_sample_folder
from memo.formats import BENCH_BACKENDS, PRECISIONS

if TYPE_CHECKING:
    from memo.data.inputs import StreamProvider

DEFAULT_MODEL = "resmem"  # memo.models.named.DEFAULT_MODEL (tests/test_option_checks_light.py)


@dataclass
class BenchOptions:
    model: str = DEFAULT_MODEL
    backends: Sequence[str] = BENCH_BACKENDS
    precisions: Sequence[str] = ("fp32",)
    batch_sizes: Sequence[int] = (1, 8, 32)
    videos: Path | None = None  # given: also time decode + inference per video
    device: str = "auto"
    warmup: int = 2
    iterations: int = 20
    max_seconds: float = 20.0  # per row, for the latency loop (at least 3 timed calls)
    sample_count: int = 8
    threads: int | None = None  # LoadOptions.threads: intra-op threads of the backends that take it
    default_threads: int | None = None  # without threads: memo's default, set once by run_bench
    decoder: str = "auto"  # auto, pyav or dali (memo.data.decoders)
    providers: Mapping[str, StreamProvider] = field(default_factory=dict)  # text/features, opened
    # the caption / feature tables of a model that has them, as memo score takes them (opened here)
    text: Path | None = None  # captions CSV
    id_column: str | None = None  # its id column
    text_column: Sequence[str] | None = None  # its caption column(s)
    features: Sequence[Path] | None = None  # folders of <id>.npy or matrices, concatenated in order
    feature_rows: Path | None = None  # row-order file of a features matrix


def check_options(options: BenchOptions) -> None:
    """Usage errors (not rows): unknown names, impossible sizes, missing files."""
    for name in options.backends:
        if name not in BENCH_BACKENDS:
            raise MemoError(f"unknown bench backend {name!r} (choose from {', '.join(BENCH_BACKENDS)})")
    for precision in options.precisions:
        if precision not in PRECISIONS:
            raise MemoError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if not options.batch_sizes or min(options.batch_sizes) < 1:
        raise MemoError("batch sizes must be positive integers, e.g. --batch-sizes 1,8,32")
    if options.warmup < 0 or options.iterations < 1:
        raise MemoError("warm-up must be >= 0 and iterations >= 1")
    if options.threads is not None and options.threads < 1:
        raise MemoError("--threads must be at least 1")
    if not options.max_seconds > 0:
        raise MemoError(f"--max-seconds must be positive, got {options.max_seconds}")
    check_decoder_name(options.decoder)
    check_table_options(options)
    check_table_files(options)
    check_sample_folder(options.videos)
    check_bundle_path(options.model)
