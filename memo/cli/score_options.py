"""The options of `memo score`, one typed alias each (so the command fits on a screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PathsOpt = Annotated[
    list[str] | None,  # str, not Path: a URI (s3://b/videos/) keeps its '//' (--engine ray)
    typer.Argument(
        help="Video files and/or folders. Example: ./videos/ clip.mp4 (or --files-from / --manifest; "
        "a text- or features-only model without paths scores every id of --text / --features)"
    ),
]

OutputOpt = Annotated[
    str,  # str, not Path: with --engine ray it may be a URI
    typer.Option(
        "--output",
        "-o",
        help="Result file: scores.csv, scores.jsonl or scores.parquet (--engine ray: a folder or URI).",
    ),
]

ModelOpt = Annotated[
    str,
    typer.Option("--model", "-m", help="Bundle directory or named model. Example: --model runs/vm8/bundle"),
]

BackendOpt = Annotated[
    str,
    typer.Option(
        help="auto (ONNX Runtime when the model has a validated export, built on first use for the "
        "default model; else torch), torch, onnx (memo export --onnx) or trt (--trt)."
    ),
]

PrecisionOpt = Annotated[
    str,
    typer.Option(help="fp32, fp16 (CUDA, or an fp16 export) or int8 (memo export --onnx --int8; CPU)."),
]

DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]

DecoderOpt = Annotated[
    str,
    typer.Option(
        help="Frame decoder: auto (DALI when installed and the device is CUDA, else PyAV), pyav, "
        "or dali (pip install 'memo[dali]'; files DALI cannot decode fall back to PyAV)."
    ),
]

BatchSizeOpt = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Frames (or videos) per inference batch.")
]

WorkersOpt = Annotated[
    int, typer.Option("--workers", "-w", min=1, help="Decoding threads ahead of the model.")
]

FramesOpt = Annotated[
    int | None,
    typer.Option("--frames", "-n", min=1, help="Keyframes per video (default: the model's, 7)."),
]

PerFrameOpt = Annotated[bool, typer.Option("--per-frame", help="Also write each frame's score.")]

ExplainOpt = Annotated[
    bool,
    typer.Option("--explain", help="Also write each module's contribution (contrib_<module>; m3s bundles)."),
]

ResumeOpt = Annotated[bool, typer.Option("--resume", help="Skip videos already in OUTPUT and append.")]

OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")]

ExtOpt = Annotated[
    str | None,
    typer.Option(help="Extensions to pick up inside folders, comma-separated. Example: --ext mp4,webm"),
]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")]

AsJsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]

TextOpt = Annotated[
    Path | None,
    typer.Option(
        help="Captions for models with a text input: CSV (or tab-separated) with a path/id column and "
        "caption column(s), one row per caption (long) or one per video (wide), or VideoMem's "
        "videoN.webm<TAB>title lines."
    ),
]

IdColumnOpt = Annotated[
    str | None,
    typer.Option(help="--text: the column naming each video (default: path, id, video_id ...)."),
]

TextColumnOpt = Annotated[
    list[str] | None,
    typer.Option(help="--text: caption column(s) (repeat; default: caption, description_N, text, title)."),
]

FeaturesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        help="Precomputed features for models with a features input: a folder of <id>.npy or a matrix; "
        "repeat for a model trained on several, in the same order."
    ),
]

FeatureRowsOpt = Annotated[
    Path | None, typer.Option(help="Row-order file of a --features matrix (line i names row i's video).")
]

FilesFromOpt = Annotated[
    str | None,
    typer.Option("--files-from", help="Read paths from this file, one per line ('-': standard input)."),
]

ManifestOpt = Annotated[
    Path | None,
    typer.Option(help="CSV or Parquet table with a column of paths (relative to the table's folder)."),
]

PathColumnOpt = Annotated[
    str | None,
    typer.Option("--path-column", help="The --manifest column holding the paths (default: path)."),
]

RetryFailedOpt = Annotated[
    bool,
    typer.Option("--retry-failed/--no-retry-failed", help="With --resume: score failed rows again."),
]

ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Intra-op threads (default: the cores the load leaves idle, >= 1: no collapse when shared).",
    ),
]

ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="Also write an HTML report of the results file when the run ends (as memo report does). "
        "Example: --report report.html",
    ),
]

EngineOpt = Annotated[
    str,
    typer.Option(
        help="local (this machine) or ray (a Ray cluster; pip install 'memo\\[ray]'): -o is then a folder "
        "of Parquet parts, local or s3://, gs://, ... Example: --engine ray -o s3://bucket/scores/"
    ),
]

AddressOpt = Annotated[
    str | None,
    typer.Option(
        help="--engine ray: the cluster to join (auto, HOST:PORT, ray://HOST:10001); default: a local Ray."
    ),
]

ActorsOpt = Annotated[
    int | None,
    typer.Option(
        help="--engine ray: model actors (default: one per GPU; CPU-only: half the CPUs / --threads)."
    ),
]

GpusPerActorOpt = Annotated[
    float | None,
    typer.Option(
        "--gpus-per-actor", help="--engine ray: GPUs per model actor (default: 1 if the cluster has GPUs)."
    ),
]

DecodeCpusOpt = Annotated[
    float, typer.Option("--decode-cpus", help="--engine ray: CPUs each decoding task reserves.")
]

StallTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--stall-timeout",
        help="--engine ray: stop (keeping every finished row) when no result came for this many seconds "
        "and the cluster no longer has the CPUs/GPUs the job needs; 0 waits for ever (an autoscaler).",
    ),
]

VideosPerBlockOpt = Annotated[
    int,
    typer.Option(
        "--videos-per-block",
        help="--engine ray: videos per Ray block (the unit of decoding, retry and loss).",
    ),
]
