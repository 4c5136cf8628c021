"""M3-S's arguments (:mod:`memo.models.m3s`): the user's, declared once (:class:`M3SConfig`),
and the record of the nested ``arch_args`` the spec derives from them (:class:`M3SArchArgs`),
which the module is built from and a bundle's ``config.json`` is checked against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memo.models.config import REQUIRED, ModelConfig, arg

TIERS = ("low", "mid", "high", "similarity")
SIM_METHODS = ("dbscan", "knn")

_SOURCE_HELP = (
    'a trunk name (resmem, torchvision:<arch>, tiny, tiny3d) or {"stream": "features"|"text", "dim": D, '
    '"encoder": ..., "log": bool} (log: log(x + 1e-3) of class-score features, in the model)'
)


@dataclass(frozen=True)
class M3SConfig(ModelConfig):
    """The user's arguments of M3-S; the spec derives its nested ``arch_args`` from them
    (:class:`M3SArchArgs` is that record)."""

    architecture = "m3s"

    modules: tuple[str, ...] = arg(TIERS, f"tiers, any subset of {', '.join(TIERS)}")
    outputs: tuple[str, ...] = arg(("score",), "one output per target")
    low_size: int = arg(128, "frames resized to low_size x low_size for the low-level measurements")
    low_frames: int = arg(8, "frames of the low-level input", input=True)
    temporal_std: bool = arg(False, "low tier: the temporal standard deviation beside the mean")
    hog_components: int = arg(10, "low tier: whitened PCA components of HOG")
    mid: str | dict[str, Any] = arg("tiny", "mid tier source: " + _SOURCE_HELP)
    high: str | dict[str, Any] = arg("tiny3d", "high tier source (a 3D trunk or a vector)")
    mid_frames: int = arg(7, "keyframes of a mid-tier trunk", input=True)
    clip_frames: int = arg(16, "clip frames of a high-tier trunk", input=True)
    clip_fps: float = arg(15.0, "clip frame rate of a high-tier trunk", input=True)
    similarity_over: tuple[str, ...] = arg(("mid", "high"), "tiers the distinctiveness is measured on")
    similarity_methods: tuple[str, ...] = arg(
        SIM_METHODS, f"distinctiveness measures ({', '.join(SIM_METHODS)})"
    )
    knn_k: int = arg(5, "knn: neighbours averaged")
    sim_components: int = arg(10, "similarity: whitened PCA components")
    hidden: tuple[int, ...] = arg((512, 64), "widths of the head's hidden layers")
    dropout: float = arg(0.0, "dropout after each hidden layer of the head (memo's; 0: the paper's)")
    input_dropout: float = arg(0.0, "dropout on the head's input (memo's; 0: the paper's)")

    @classmethod
    def module_args(cls, args: Mapping[str, Any], where: str = "arch_args") -> ModelConfig:
        return M3SArchArgs.from_args(args, where)


@dataclass(frozen=True)
class M3SArchArgs(ModelConfig):
    """What an m3s module is built from: the ``arch_args`` :func:`m3s_spec` derives (then
    :func:`memo.models.m3s_fit.spec_with_fit` and the recipe complete)."""

    architecture = "m3s"

    modules: tuple[str, ...] = arg(REQUIRED, "tiers of the head")
    outputs: tuple[str, ...] = arg(REQUIRED, "output names")
    hidden: tuple[int, ...] = arg(REQUIRED, "head widths")
    similarity: dict[str, Any] = arg(REQUIRED, "over, methods, k, components")
    low: dict[str, Any] | None = arg(None, "hog_dim, components, temporal_std")
    mid: dict[str, Any] | None = arg(None, "trunk (or None), dim, log")
    high: dict[str, Any] | None = arg(None, "trunk (or None), dim, log")
    fitted: dict[str, Any] | None = arg(None, "sizes of the fitted buffers (None: not fitted)")
    dropout: tuple[float, ...] | None = arg(None, "[on the head's input, after each hidden layer]")
    heads: int = arg(1, "heads of the ensemble")
    calibrated: bool = arg(False, "an affine map per output after the head")
