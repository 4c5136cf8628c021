"""The options of ``memo export`` and their checks: plain data, no torch.

Every check here needs neither torch nor the model (names against the format table, flags that
only apply to some formats, numbers, the batch profile, that the files named exist), so
``memo export`` runs them before importing either; :func:`memo.export.runner.run_export` runs
them again first, for a caller from Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from memo.data.tables import check_table_files, check_table_options
from memo.errors import InputError
from memo.export.errors import ExportError
from memo.formats import DEFAULT_PRECISION, PRECISIONS
from memo.formats import FORMATS as TABLE

#: The :class:`ExportOptions` fields only a format uses (refused when no such format is asked for).
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "onnx": ("opset", "simplify", "calibration", "calibration_method"),
    "trt": ("workspace_gb", "force"),
}
#: int8 calibration methods (ONNX Runtime's calibrators)
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
BUNDLE_CONFIG = "config.json"  # what makes a folder a bundle (memo.models.bundle.CONFIG)


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an export must serve: TensorRT's optimisation profile over dim 0."""

    min: int = 1
    opt: int = 16
    max: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ExportError(f"batch profile must satisfy 1 <= MIN <= OPT <= MAX, got {self.text}")

    @property
    def text(self) -> str:
        return f"{self.min}:{self.opt}:{self.max}"

    @classmethod
    def parse(cls, text: str | tuple[int, int, int] | BatchProfile) -> BatchProfile:
        """``"1:16:64"`` or ``(1, 16, 64)``; a single number N means ``N:N:N``."""
        if isinstance(text, BatchProfile):
            return text
        if isinstance(text, tuple):
            parts = list(text)
        else:
            pieces = text.strip().split(":")
            try:
                parts = [int(p) for p in pieces]
            except ValueError:
                raise ExportError(
                    f"batch profile {text!r}: expected MIN:OPT:MAX integers, e.g. 1:16:64"
                ) from None
        if len(parts) == 1:
            parts = parts * 3
        if len(parts) != 3:
            raise ExportError(f"batch profile {text!r}: expected MIN:OPT:MAX, e.g. 1:16:64")
        return cls(*(int(p) for p in parts))

    def to_json(self) -> dict[str, int]:
        return {"min": self.min, "opt": self.opt, "max": self.max}


@dataclass
class ExportOptions:
    model: str
    formats: list[str] = field(default_factory=lambda: ["onnx"])
    precision: str = DEFAULT_PRECISION
    opset: int | None = None  # ONNX only
    batch: str = "1:16:64"
    simplify: bool = False  # ONNX only
    workspace_gb: float | None = None  # TensorRT only
    force: bool = False  # TensorRT: rebuild even when the engine still matches
    videos: Path | None = None
    calibration: Path | None = None  # int8 only: videos (folder or manifest) to calibrate on
    calibration_method: str = "minmax"  # int8 only: minmax, entropy or percentile
    # the caption / feature inputs of a model that has them (for validation), as memo score takes them
    text: Path | None = None  # captions CSV
    id_column: str | None = None  # its id column
    text_column: list[str] | None = None  # its caption column(s)
    features: list[Path] | None = None  # folders of <id>.npy or matrices, concatenated in order
    feature_rows: Path | None = None  # row-order file of a features matrix


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def check_export_options(options: ExportOptions) -> BatchProfile:
    """Conflicting or unknown options fail here, with the fix in the message (no torch, no model)."""
    if not options.formats:
        raise ExportError(f"nothing to export: add {' and/or '.join(f.flag for f in TABLE.values())}")
    unknown = [f for f in options.formats if f not in TABLE]
    if unknown:
        raise ExportError(f"unknown format(s) {unknown} (choose from {', '.join(TABLE)})")
    if options.precision not in PRECISIONS:
        raise ExportError(f"unknown precision {options.precision!r} (choose from {', '.join(PRECISIONS)})")
    _check_format_options(options)
    _check_int8_options(options)
    if options.opset is not None and not 13 <= options.opset <= 21:
        raise ExportError(f"--opset {options.opset}: memo exports opsets 13 to 21 (default 17)")
    if options.workspace_gb is not None and not options.workspace_gb > 0:
        raise ExportError(f"--workspace-gb {options.workspace_gb}: must be positive (GiB)")
    profile = BatchProfile.parse(options.batch)
    try:
        check_table_options(options)
        check_table_files(options)
        check_sample_folder(options.videos)
        check_bundle_path(options.model)
    except InputError as exc:
        raise ExportError(str(exc)) from None
    return profile


def _check_format_options(options: ExportOptions) -> None:
    """An option only some formats use needs one of them asked for (``--opset`` needs ``--onnx``)."""
    defaults = {f.name: f.default for f in fields(ExportOptions)}
    for option in dict.fromkeys(o for names in FORMAT_OPTIONS.values() for o in names):
        users = [TABLE[name].flag for name, names in FORMAT_OPTIONS.items() if option in names]
        asked = any(option in FORMAT_OPTIONS[name] for name in options.formats)
        if getattr(options, option) != defaults[option] and not asked:
            raise ExportError(
                f"{_flag(option)} only applies to {', '.join(u[2:] for u in users)} exports: "
                f"add {' or '.join(users)}"
            )


def _check_int8_options(options: ExportOptions) -> None:
    int8 = options.precision == "int8"
    if int8:
        refused = [TABLE[f].flag for f in options.formats if not TABLE[f].has("int8")]
        if refused:
            raise ExportError(f"--int8 is an ONNX Runtime build; {', '.join(refused)} has none (drop it)")
        if options.calibration is None:
            raise ExportError(
                "--int8 needs --calibration DIR or a CSV manifest of real videos to calibrate on"
            )
        if not Path(options.calibration).exists():
            raise ExportError(f"--calibration {options.calibration}: no such folder or manifest")
        if options.calibration_method not in CALIBRATION_METHODS:
            raise ExportError(
                f"--calibration-method {options.calibration_method!r}: choose from "
                f"{', '.join(CALIBRATION_METHODS)}"
            )
    elif options.calibration is not None or options.calibration_method != "minmax":
        raise ExportError("--calibration / --calibration-method only apply to --int8 exports: add --int8")


def check_bundle_path(model: str) -> None:
    """A MODEL that names a path is a bundle folder. A plain word may be a named model: that, and
    the close matches of a misspelt one, are for :func:`memo.models.named.resolve_model` to say."""
    path = Path(model)
    if (path / BUNDLE_CONFIG).is_file():
        return
    if path.exists():
        raise InputError(f"{model}: not a model bundle (no {BUNDLE_CONFIG})")
    if len(path.parts) > 1 or model.startswith((".", "~")):
        raise InputError(f"{model}: no such bundle directory")


def check_sample_folder(videos: str | Path | None) -> None:
    """A named folder of sample videos exists (checked before any work); None: generated ones."""
    if videos is not None and not Path(videos).exists():
        raise InputError(f"{videos}: no such folder of sample videos (--videos / $MEMO_SAMPLE_VIDEOS)")
