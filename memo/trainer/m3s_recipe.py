"""The ``m3s`` recipe (``memo train --model m3s``): tier vectors, per-split fitting, the bundle.

:class:`M3SRecipe` is a :class:`~memo.trainer.vector_recipe.VectorHeadRecipe` (members train
on cached per-item vectors); what is M3-S specific:

* :func:`check_m3s_options` (step 1) — ``--model-arg`` keys and the tiers' sources;
* :func:`m3s_vectors` (step 2) — the *raw* tier vectors of every item, computed once:
  ``mid`` / ``high`` from the precomputed inputs (``features``: e.g. VideoMem's COCO-80
  class scores; ``text``: cached caption or title embeddings) or from the video through
  a frozen trunk, ``low`` from memo's ``lowlevel`` stream. These are
  :meth:`memo.models.m3s.M3S.raw_vectors`, i.e. what the model computes before anything
  fitted on a training set is applied.
* :func:`m3s_member` (step 3) — a fresh model whose training-set transforms
  (:func:`memo.models.m3s_fit.fit_m3s`: PCA, t-SNE + DBSCAN clusters, kNN bank, standardisation)
  are fitted on the items the head trains on — the fold's training part minus its inner
  validation items in cross-validation, every labelled item for the final bundle — so no
  held-out item ever shapes them. The transforms are a deterministic function of those items
  and ``seed``, so a resumed run refits them identically before loading the checkpoint.
* :func:`assemble_m3s` (step 4) — the final model (buffers included) as an ``m3s`` bundle.

``--model-arg`` keys: the arguments of :class:`memo.models.m3s.M3SConfig` (``modules``,
``similarity_over``, ``similarity_methods``, ``knn_k``, ``low_size``, ...); ``mid`` / ``high``
are ``features`` or ``text`` (a precomputed input) or a trunk name (``resmem``,
``torchvision:<arch>``, ``tiny``, ``tiny3d``); ``mid_weights`` / ``high_weights`` a trunk's
weight file; and the fitting arguments ``eps``, ``min_samples``, ``max_tsne``, ``max_rows``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.datasets import LabelledSet
from memo.data.inputs import prepare_video
from memo.data.text import default_cache_dir
from memo.data.text_encoders import encoder_label
from memo.data.vector_cache import VectorCache, weights_identity
from memo.data.video_features import backbone_state
from memo.errors import BundleError, InputError
from memo.models.bundle import Bundle, save_bundle
from memo.models.m3s import M3S, m3s_spec
from memo.models.m3s_config import M3SConfig
from memo.models.m3s_fit import fit_m3s, spec_with_fit
from memo.models.registry import create_model
from memo.models.spec import ModelSpec
from memo.trainer.final import FinalResult
from memo.trainer.options import TrainOptions, refuse_fusion_head_flags
from memo.trainer.prepare import Prepared, ProgressFn, Vectors, build_vectors
from memo.trainer.vector_recipe import VectorHeadRecipe

log = logging.getLogger(__name__)

#: the model's arguments (its config) but ``outputs``, which the run's targets set
SPEC_KEYS = frozenset(M3SConfig.names()) - {"outputs"}
FIT_KEYS = frozenset({"eps", "min_samples", "max_tsne", "max_rows"})
WEIGHT_KEYS = frozenset({"mid_weights", "high_weights"})
PRECOMPUTED = ("features", "text")
TUPLE_KEYS = ("modules", "similarity_over", "similarity_methods", "hidden")


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def sources(options: TrainOptions) -> dict[str, str]:
    """Where the mid and high tiers come from: ``features``, ``text`` or a trunk name."""
    args = options.model_args
    mid = args.get("mid") or ("features" if "features" in options.inputs else options.video_backbone)
    high = args.get("high") or ("text" if "text" in options.inputs else "torchvision:r3d_18")
    return {"mid": str(mid), "high": str(high)}


def check_m3s_options(options: TrainOptions) -> None:
    """Everything about an m3s run that can be checked before any work."""
    unknown = sorted(set(options.model_args) - SPEC_KEYS - FIT_KEYS - WEIGHT_KEYS)
    if unknown:
        known = ", ".join(sorted(SPEC_KEYS | FIT_KEYS | WEIGHT_KEYS))
        raise InputError(f"--model-arg: unknown m3s argument(s) {', '.join(unknown)} (known: {known})")
    if options.finetune_text or options.decay_alpha:
        raise InputError("--model m3s: --finetune-text and --decay-alpha are fusion-mlp options")
    refuse_fusion_head_flags(
        options, {"hidden": "hidden=512,64", "dropout": "dropout=P", "input_dropout": "input_dropout=P"}
    )
    try:  # the model's arguments typed as its config declares them
        M3SConfig.from_args({k: v for k, v in options.model_args.items() if k in SPEC_KEYS}, "--model-arg")
    except BundleError as exc:
        raise InputError(str(exc)) from None
    for tier, source in sources(options).items():
        if source in PRECOMPUTED and source not in options.inputs:
            raise InputError(f"--model-arg {tier}={source}: add --input {source}")
    try:
        m3s_spec(**spec_args(options, {"features": 1, "text": 1}, trunks=False))
    except (ValueError, TypeError, BundleError) as exc:
        raise InputError(f"--model m3s: {exc}") from None


def spec_args(options: TrainOptions, dims: dict[str, int], trunks: bool = True) -> dict[str, Any]:
    """The :func:`m3s_spec` arguments of a run (``dims``: width of each precomputed input)."""
    args = {k: v for k, v in options.model_args.items() if k in SPEC_KEYS}
    for key in TUPLE_KEYS:
        if key in args:
            args[key] = _as_tuple(args[key])
    if "hidden" in args:
        args["hidden"] = tuple(int(h) for h in args["hidden"])
    if "modules" in args and args["modules"] != ("similarity",) and "similarity_over" not in args:
        # default: distinctiveness over every other tier the run uses
        args["similarity_over"] = tuple(t for t in args["modules"] if t != "similarity")
    for tier, source in sources(options).items():
        if source in PRECOMPUTED:
            info: dict[str, Any] = {"stream": source, "dim": int(dims[source])}
            if source == "text":
                info["encoder"] = encoder_label(options.text_encoder)
            elif dims.get("features_log"):
                info["log"] = True
            args[tier] = info
        else:
            args[tier] = source if trunks else "tiny" if tier == "mid" else "tiny3d"
    args["outputs"] = tuple(options.targets)
    return args


_TRUNK_STATES: dict[tuple[str, str], dict[str, torch.Tensor]] = {}


def trunk_weights(options: TrainOptions, tier: str) -> Any:
    """The weight file of a tier's trunk: ``--model-arg <tier>_weights``, else (mid tier on the
    run's ``--video-backbone``) ``--backbone-weights``; None: the package's own (``resmem``)."""
    weights = options.model_args.get(f"{tier}_weights")
    if weights is None and tier == "mid" and sources(options)["mid"] == options.video_backbone:
        weights = options.backbone_weights
    return weights


def load_trunks(model: torch.nn.Module, options: TrainOptions) -> None:
    """Load the user's (or the ``resmem`` package's) weights into the model's frozen trunks."""
    for tier, source in sources(options).items():
        trunk = getattr(model, f"{tier}_trunk", None)
        if trunk is None or source in ("tiny", "tiny3d"):
            continue
        weights = trunk_weights(options, tier)
        key = (source, str(weights))
        if key not in _TRUNK_STATES:
            _TRUNK_STATES[key] = backbone_state(source, weights)
        model.load_trunk(tier, _TRUNK_STATES[key])  # type: ignore[operator]


def m3s_vectors(
    data: LabelledSet, options: TrainOptions, progress: ProgressFn | None = None
) -> tuple[Vectors, ModelSpec]:
    """The raw tier vectors of every item (keys ``low`` ``(N, T, D)``, ``mid``, ``high``) and the
    unfitted spec of the model."""
    kinds = [k for k in options.inputs if k in PRECOMPUTED]
    base = build_vectors(data, replace(options, inputs=kinds), progress) if kinds else Vectors({}, None, {})
    dims: dict[str, Any] = {k: int(v.shape[1]) for k, v in base.per_item.items()}
    dims["features_log"] = bool(base.input_info.get("features", {}).get("log"))
    spec = m3s_spec(**spec_args(options, dims))
    model = create_model("m3s", **spec.arch_args)
    assert isinstance(model, M3S)
    load_trunks(model, options)
    inputs = {i.name: base.per_item[i.stream] for i in spec.inputs if i.stream in PRECOMPUTED}
    with torch.no_grad():
        raw = {
            k: v.numpy()
            for k, v in model.raw_vectors({k: torch.from_numpy(v) for k, v in inputs.items()}).items()
        }
    video_inputs = [i for i in spec.inputs if i.stream not in PRECOMPUTED]
    if video_inputs:
        raw |= _video_raw(model, spec.with_(inputs=tuple(video_inputs)), data, options, progress)
    # caption sampling (--caption-sampling random) acts on the tier fed by the text input
    text_tier = next((t for t, src in sources(options).items() if src == "text" and t in raw), None)
    captions = base.captions if text_tier else None
    return Vectors(raw, captions, {}, base.extraction, caption_key=text_tier or "text"), spec


def video_tiers(spec: ModelSpec) -> list[str]:
    """The tiers whose inputs come from the videos, as named on the stage line."""
    return [
        "low" if item.stream == "lowlevel" else item.name
        for item in spec.inputs
        if item.stream not in PRECOMPUTED
    ]


def _video_raw(
    model: Any, spec: ModelSpec, data: LabelledSet, options: TrainOptions, progress: Any
) -> dict[str, np.ndarray]:
    """Raw vectors of the video tiers: memo's data layer, then the frozen trunks, one video at a time.

    Each video's vectors are cached on disk (:class:`memo.data.vector_cache.VectorCache`, keyed
    by the tiers' sampling, preprocessing, trunks and trunk weights), so a rerun, a resumed run
    or another ablation over the same videos does not decode them or run the trunks again."""
    if data.videos is None or any(v is None for v in data.videos):
        raise InputError(
            f"{data.source or data.name}: m3s tiers from video need every item's video (--videos)"
        )
    cache = VectorCache(options.cache_dir or default_cache_dir(), "m3s", _cache_settings(spec, options))
    parts: dict[str, list[np.ndarray]] = {}
    stage = f"m3s: {'/'.join(video_tiers(spec))} inputs of {len(data)} videos"
    for done, path in enumerate(data.videos):
        raw = cache.load(path)
        if raw is None:
            arrays = prepare_video(str(path), spec).arrays
            with torch.no_grad():
                tensors = model.raw_vectors({k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()})
            raw = {k: v.numpy().astype(np.float32) for k, v in tensors.items()}
            cache.store(path, raw)
        for key, value in raw.items():
            parts.setdefault(key, []).append(value)
        if progress is not None:
            progress({"stage": stage, "done": done + 1, "total": len(data), "unit": "videos"})
    if cache.hits:
        log.info("m3s: %d of %d videos' tier vectors read from %s", cache.hits, len(data), cache.folder)
    return {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}


def _cache_settings(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """What a video's raw tier vectors depend on: the inputs, the tiers' arch args, the trunk weights."""
    args = spec.arch_args
    weights = {tier: weights_identity(trunk_weights(options, tier)) for tier in ("mid", "high")}
    return {
        "inputs": [asdict(i) for i in spec.inputs],
        "tiers": {t: args.get(t) for t in ("low", "mid", "high")},
        "weights": weights,
        "resmem": _package_version("resmem"),
        "version": 1,
    }


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def m3s_member(
    options: TrainOptions, spec: ModelSpec, vectors: Vectors, fit_index: np.ndarray
) -> torch.nn.Module:
    """A model of the unfitted ``spec`` with its transforms fitted on ``fit_index`` (and a fresh
    head); ``model.memo_spec`` is the fitted spec. Seed torch before calling: the head is
    initialised here."""
    model = create_model("m3s", **spec.arch_args)
    load_trunks(model, options)
    fit_args = {k: v for k, v in options.model_args.items() if k in FIT_KEYS}
    raw = {k: v[fit_index] for k, v in vectors.per_item.items()}
    fitted = fit_m3s(model, raw, seed=options.seed, **fit_args)  # type: ignore[arg-type]
    model.memo_spec = spec_with_fit(spec, fitted)  # type: ignore[assignment]
    return model


RANK_ONLY_LOSSES = ("spearman", "ranking")  # losses that leave the scale of the scores free


def assemble_m3s(options: TrainOptions, prepared: Prepared, final: FinalResult, folder: Path) -> Bundle:
    """The final model (fitted buffers, head(s) and trunk weights) as an ``m3s`` bundle; loaded
    back strictly. With ``--ensemble N`` the N final heads share one set of fitted transforms
    (all fitted on every labelled item with the run's seed) and the bundle averages them.
    After a rank-only loss the outputs are calibrated (:func:`calibrate`)."""
    assert final.model is not None
    spec: ModelSpec = final.model.memo_spec  # type: ignore[assignment]
    state = final.members[0]
    if len(final.members) > 1:
        spec = spec.with_(arch_args={**spec.arch_args, "heads": len(final.members)})
        state = _stack_heads(final.members)
    if options.fit.loss in RANK_ONLY_LOSSES:
        spec, state = calibrate(spec, state, prepared, options.targets)
    bundle = save_bundle(folder, spec, state)
    bundle.build_module()
    return bundle


def calibrate(
    spec: ModelSpec, state: dict[str, torch.Tensor], prepared: Prepared, targets: list[str]
) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    """Put a rank-trained model's scores on the label scale without changing their order.

    A Spearman (or pairwise ranking) loss fixes the order of the predictions, not their
    values: such a head's sigmoid outputs can sit anywhere in (0, 1). Scores a user reads as
    memorability should be on the labels' scale, so each output gets an affine map
    ``a * p + b`` (``a > 0``: ranks, and so every Spearman figure, are unchanged), fitted by
    least squares of the labels on the final model's predictions of its training items and
    stored as the buffers ``out_scale`` / ``out_shift``."""
    model = create_model("m3s", **spec.arch_args).eval()
    model.load_state_dict(state, strict=True)
    assert prepared.vectors is not None
    per_item = prepared.vectors.per_item
    n = len(prepared.data)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in targets}
    with torch.no_grad():
        for start in range(0, n, 4096):
            raw = {
                k: torch.from_numpy(np.asarray(v[start : start + 4096])).float() for k, v in per_item.items()
            }
            blocks = model.head_blocks(raw, in_bank=True)  # training items: kNN leaves each one out
            for name, value in model.head_from_blocks(blocks).items():
                parts[name].append(value.double().numpy())
    scale, shift = [], []
    for name in targets:
        p = np.concatenate(parts[name])
        y = np.asarray(prepared.data.targets[name], dtype=np.float64)
        slope = float(np.cov(p, y, bias=True)[0, 1] / max(float(np.var(p)), 1e-12))
        if not slope > 0:  # a head that ranks nothing: keep its scores as they are
            slope, offset = 1.0, 0.0
        else:
            offset = float(y.mean() - slope * p.mean())
        scale.append(slope)
        shift.append(offset)
    args = {**spec.arch_args, "calibrated": True}
    note = "affine map of the head's output onto the label scale, least squares on the training items"
    spec = spec.with_(arch_args=args, metadata={**spec.metadata, "calibration": note})
    state = {**state, "out_scale": torch.tensor(scale), "out_shift": torch.tensor(shift)}
    return spec, state


def _stack_heads(members: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One state dict: the shared buffers and trunks of the first member, ``head.<i>.*`` per member."""
    shared = {k: v for k, v in members[0].items() if not k.startswith("head.")}
    for i, member in enumerate(members[1:], start=1):
        for key, value in shared.items():
            if not torch.equal(member[key], value):
                raise RuntimeError(f"m3s ensemble: member {i} has other fitted transforms ({key})")
    heads = {
        f"head.{i}.{k.removeprefix('head.')}": v
        for i, member in enumerate(members)
        for k, v in member.items()
        if k.startswith("head.")
    }
    return shared | heads


class M3SRecipe(VectorHeadRecipe):
    """M3-S: members are m3s models whose transforms are fitted on each member's training items."""

    name = "m3s"

    def check_options(self, options: TrainOptions) -> None:
        check_m3s_options(options)

    def vectors(
        self, data: LabelledSet, options: TrainOptions, progress: ProgressFn | None = None
    ) -> Vectors:
        return m3s_vectors(data, options, progress)[0]

    def build(self, prepared: Prepared, options: TrainOptions, progress: ProgressFn | None) -> None:
        prepared.vectors, prepared.spec = m3s_vectors(prepared.data, options, progress)  # splits: check's

    def new_member(
        self, options: TrainOptions, prepared: Prepared, fit_index: np.ndarray, transform_index: np.ndarray
    ) -> torch.nn.Module:
        """Transforms fitted on the member's training items only (``transform_index``)."""
        assert prepared.spec is not None and prepared.vectors is not None
        return m3s_member(options, prepared.spec, prepared.vectors, transform_index)

    def assemble(self, options: TrainOptions, prepared: Prepared, final: FinalResult, folder: Path) -> Bundle:
        return assemble_m3s(options, prepared, final, folder)
