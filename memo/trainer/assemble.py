"""The vector-head contract (:mod:`memo.trainer.vector_recipe`): how a member and the bundle of a
``recipe="vector-head"`` model are built from its registry entry, and step 4, the final heads
(and a frozen backbone or fine-tuned encoder) become one bundle.

A vector-head model is any registered architecture whose entry names ``recipe="vector-head"``
(``fusion-mlp`` is one); nothing here names it. Its spec function is called with those of the
following its config (:mod:`memo.models.config`) declares:

* ``streams``: input name -> ``{"stream": "text"|"features"|"keyframes", "dim": D, "encoder": ...}``;
* ``outputs`` (the targets), ``means`` (each target's mean on the items a member fits: a head
  may start from them), ``members`` (the ensemble size; 1 for a member in training),
  ``video_backbone`` and ``num_frames`` (a ``keyframes`` input: the frozen frame embedder and
  its frame count; ``video_backbone`` is None for a member, which sees embedded vectors),
  ``log_inputs`` (inputs that are class scores, best read as ``log(x + 1e-3)``);
* the head flags ``hidden``, ``dropout``, ``input_dropout``;

and the run's ``--model-arg`` s (checked against the config). Its module
(``builder(**spec.arch_args)``) trains through ``fuse(vectors) -> {output: (B,)}`` and scores
through ``forward(**inputs)``; an ensemble of ``members`` keeps member ``m``'s tensors under ``members.<m>.`` and a frozen backbone under
``backbone.``. The saved bundle is loaded back strictly before returning, so a bundle that would
not score fails here rather than at scoring time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from memo.data.video_features import backbone_state
from memo.errors import BundleError, InputError
from memo.models.bundle import Bundle, save_bundle
from memo.models.registry import get_entry
from memo.models.spec import ModelSpec
from memo.trainer.final import FinalResult
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared, Vectors

#: The keywords the vector-head recipe passes to a model's spec function (not --model-arg s).
RECIPE_KEYS = ("streams", "outputs", "hidden", "dropout", "input_dropout", "video_backbone", "num_frames",
               "means", "members", "log_inputs")  # fmt: skip


def check_head_args(options: TrainOptions) -> None:
    """``--model-arg`` s the model's spec function takes, and an ensemble only for a model that
    declares ``members`` (before any work)."""
    config = get_entry(options.model).config
    taken = sorted(set(options.model_args) & set(RECIPE_KEYS))
    if taken:
        raise InputError(f"--model-arg {taken[0]}: set by memo train's own options for {options.model}")
    try:
        config.from_args(options.model_args, where="--model-arg")
    except BundleError as exc:
        raise InputError(str(exc)) from None
    if options.ensemble > 1 and "members" not in config.names():
        raise InputError(
            f"--model {options.model}: --ensemble must be 1 (the model holds no ensemble of heads)"
        )


def head_spec(
    options: TrainOptions, vectors: Vectors, means: list[float], members: int, video_backbone: str | None
) -> ModelSpec:
    """The spec of ``options.model`` on ``vectors`` (a member's: ``members=1``, no backbone)."""
    streams = {k: {kk: vv for kk, vv in v.items() if kk != "log"} for k, v in vectors.input_info.items()}
    args: dict[str, Any] = {
        "outputs": tuple(options.targets), "hidden": options.hidden, "dropout": options.dropout,
        "input_dropout": options.input_dropout, "video_backbone": video_backbone,
        "num_frames": options.num_frames, "means": tuple(means), "members": members,
        "log_inputs": vectors.log_inputs,
    }  # fmt: skip
    entry = get_entry(options.model)
    declared = {k: v for k, v in {"streams": streams, **args}.items() if k in entry.config.names()}
    return entry.default_spec(**declared, **options.model_args)


def new_head(options: TrainOptions, vectors: Vectors, means: list[float]) -> torch.nn.Module:
    """A fresh member: the registered model built from its member spec."""
    spec = head_spec(options, vectors, means, 1, None)
    return get_entry(spec.architecture).builder(**spec.arch_args)


def bundle_spec(options: TrainOptions, vectors: Vectors, means: list[float], members: int) -> ModelSpec:
    backbone = options.video_backbone if "keyframes" in options.inputs else None
    spec = head_spec(options, vectors, means, members, backbone)
    if options.finetune_text:
        from memo.trainer.finetune import ENCODER_DIR

        spec = spec.with_(
            inputs=tuple(replace(i, encoder=ENCODER_DIR) if i.stream == "text" else i for i in spec.inputs)
        )
    return spec


def merged_weights(options: TrainOptions, final: FinalResult) -> dict[str, torch.Tensor]:
    """One state dict: member ``m``'s ``members.0.*`` become ``members.<m>.*``; the backbone is added."""
    state_dict: dict[str, torch.Tensor] = {}
    for m, member in enumerate(final.members):
        for key, value in member.items():
            state_dict[key.replace("members.0.", f"members.{m}.", 1)] = value
    if "keyframes" in options.inputs:
        for key, value in backbone_state(options.video_backbone, options.backbone_weights).items():
            state_dict[f"backbone.{key}"] = value
    return state_dict


def assemble_bundle(options: TrainOptions, prepared: Prepared, final: FinalResult, folder: Path) -> Bundle:
    """Write the bundle to ``folder`` and check that it loads."""
    assert prepared.vectors is not None
    means = [float(prepared.data.targets[t].mean()) for t in options.targets]
    spec = bundle_spec(options, prepared.vectors, means, options.ensemble)
    bundle = save_bundle(folder, spec, merged_weights(options, final))
    if options.finetune_text:
        from memo.trainer.finetune import save_encoder

        save_encoder(final.model, bundle.path)  # the last final member's encoder (ensemble is 1)
    bundle.build_module()  # the saved bundle must load strictly; fail here, not at scoring time
    return bundle
