"""How the ``video`` recipe trains an architecture end to end (options, losses, stages).

Which architectures it trains is said by their registry entries (``recipe="video"``).

A video model's spec metadata says how it is trained: ``head_losses`` (model output -> loss
name) and, for models whose paper trains in stages, ``recipe`` (a list of
:class:`memo.models.stages.Stage` records). This module turns those, plus the run's options,
into a :class:`StagePlan` per stage: which parameters train (``set_stage``), until which
epoch, at what multiple of ``--lr``, with which loss on which output.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

from memo.data.decoders import DecoderChoice, resolve_decoder
from memo.errors import BundleError, InputError
from memo.models.registry import get_entry
from memo.models.spec import ModelSpec, canonical_arch_args
from memo.runtime.base import resolve_device
from memo.trainer.engine import FitConfig
from memo.trainer.options import refuse_fusion_head_flags
from memo.trainer.video_fit import HeadLoss


@dataclass(frozen=True)
class StagePlan:
    name: str
    train: str  # "all" or "head" (StagedModel.set_stage)
    end_epoch: int  # the stage runs until this many epochs in total have been trained
    lr_scale: float  # multiple of --lr
    heads: tuple[HeadLoss, ...]


def check_video_options(options: Any) -> None:
    """Options a video model cannot take, refused before any work (``options``: TrainOptions)."""
    if len(options.targets) != 1:
        raise InputError(
            f"--model {options.model}: one target per video model run (given: {', '.join(options.targets)}); "
            "train short- and long-term separately, as AMNetVid's note does"
        )
    if options.ensemble != 1:
        raise InputError(f"--model {options.model}: --ensemble must be 1 (one network per bundle)")
    if options.finetune_text or options.decay_alpha:
        raise InputError(f"--model {options.model}: --finetune-text and --decay-alpha are fusion-mlp options")

    refuse_fusion_head_flags(options)
    if options.accumulate < 1:
        raise InputError("--accumulate must be at least 1")
    if options.workers < 0:
        raise InputError("--workers must be 0 or more")
    if options.frame_cache_gb is not None and options.frame_cache_gb <= 0:
        raise InputError("--frame-cache-gb must be positive")

    frame_decoder(options)  # unknown or missing: refused now
    spec = build_spec(options.model, options.model_args)
    if options.backbone_weights is not None:
        if "backbone_weights" not in inspect.signature(get_entry(options.model).builder).parameters:
            raise InputError(f"--model {options.model}: this architecture takes no --backbone-weights")
        if not options.backbone_weights.is_file():
            raise InputError(f"{options.backbone_weights}: no such weights file (--backbone-weights)")
    heads = spec.metadata.get("head_losses") or {}
    if len(heads) > 1 and options.fit.loss != FitConfig().loss:
        raise InputError(
            f"--loss: {options.model} has {len(heads)} heads ({', '.join(heads)}); set their losses with "
            '--model-arg \'head_losses={"semantic": "mse", "spatial": "ranking"}\''
        )


def frame_decoder(options: Any) -> DecoderChoice:
    """The frame cache's decoder for ``options``, resolved once per (name, device) in a process:
    the option check resolves it (refusing an unknown or uninstalled one before any work) and
    the frame cache reuses that choice, rather than resolving and announcing it again."""
    return _resolved(options.decoder, resolve_device(options.fit.device))


@functools.cache
def _resolved(name: str, device: str) -> DecoderChoice:
    return resolve_decoder(name, device)


def build_spec(name: str, model_args: dict[str, Any]) -> ModelSpec:
    """The architecture's default spec with ``--model-arg`` overrides; an unknown or mistyped
    argument: InputError, the config's one line (:mod:`memo.models.config`) listing the arguments."""
    entry = get_entry(name)
    try:
        entry.config.from_args(model_args, where="--model-arg")
        return entry.default_spec(**canonical_arch_args(model_args))
    except (BundleError, ValueError, TypeError) as exc:
        message = str(exc)
        raise InputError(
            message if message.startswith("--model-arg") else f"--model-arg for {name}: {message}"
        ) from None


def stage_plan(spec: ModelSpec, cfg: FitConfig, loss_override: str | None) -> list[StagePlan]:
    """The stages of ``spec``'s recipe (one ``all`` stage without one), capped at ``cfg.epochs``."""
    head_losses: dict[str, str] = dict(spec.metadata.get("head_losses") or {spec.outputs[0].name: cfg.loss})
    recipe = spec.metadata.get("recipe") or [
        {"name": "train", "train": "all", "loss": None, "epochs": None, "lr": None}
    ]
    first_lr = recipe[0].get("lr") or 1.0
    plans, end = [], 0
    for stage in recipe:
        end = cfg.epochs if stage.get("epochs") is None else min(cfg.epochs, end + int(stage["epochs"]))
        heads = tuple(
            HeadLoss(output, loss_override or stage.get("loss") or loss)
            for output, loss in head_losses.items()
        )
        scale = (stage.get("lr") or first_lr) / first_lr
        plans.append(StagePlan(stage["name"], stage["train"], end, scale, heads))
        if end >= cfg.epochs:
            break
    return plans
