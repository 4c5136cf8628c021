"""Step 4 of the fusion-head recipe (:mod:`memo.trainer.vector_recipe`): the final heads (and a frozen backbone or fine-tuned encoder) become one bundle.

The bundle is a ``fusion-mlp`` whose ensemble members are the final heads; its weights are
the members' state dicts renamed to ``members.<m>.*`` plus, for a keyframes input, the
frozen backbone's weights. The saved bundle is loaded back strictly before returning, so a
bundle that would not score fails here rather than at scoring time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from memo.data.video_features import backbone_state
from memo.models.bundle import Bundle, save_bundle
from memo.models.fusion import fusion_spec
from memo.models.spec import ModelSpec
from memo.trainer.final import FinalResult
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared, Vectors


def model_spec(options: TrainOptions, vectors: Vectors, means: list[float], members: int) -> ModelSpec:
    inputs = {k: {kk: vv for kk, vv in v.items() if kk != "log"} for k, v in vectors.input_info.items()}
    spec = fusion_spec(
        inputs,
        outputs=tuple(options.targets),
        hidden=options.hidden,
        dropout=options.dropout,
        input_dropout=options.input_dropout,
        video_backbone=options.video_backbone if "keyframes" in options.inputs else None,
        num_frames=options.num_frames,
        means=tuple(means),
        members=members,
        log_inputs=vectors.log_inputs,
    )
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
    spec = model_spec(options, prepared.vectors, means, options.ensemble)
    bundle = save_bundle(folder, spec, merged_weights(options, final))
    if options.finetune_text:
        from memo.trainer.finetune import save_encoder

        save_encoder(final.model, bundle.path)  # the last final member's encoder (ensemble is 1)
    bundle.build_module()  # the saved bundle must load strictly; fail here, not at scoring time
    return bundle
