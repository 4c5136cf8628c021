"""The one way memo reads a user's weight file into a module.

Every path that takes a weight file from the user (``--backbone-weights``, a trunk's
``--model-arg *_weights``, a released AMNet checkpoint, a frozen video backbone) goes through
:func:`load_weights`: the file is read as tensors only (safetensors, or
``torch.load(weights_only=True)``; ``{"state_dict": ...}`` / ``{"model": ...}`` unwrapped; never
unpickled code), key prefixes of training wrappers are stripped, and every tensor of the
module must be in the file with the module's shape. The error names the file and the first
key (in the module's order) that is missing or has another shape; tensors of the file the
module lacks (a classifier ``fc.*``) are left unused and reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from memo.errors import BundleError

#: Key prefixes training wrappers add (DataParallel, Lightning, timm/torchvision wrappers).
WRAPPER_PREFIXES = ("module.", "backbone.", "trunk.", "encoder.", "model.")
#: Module tensors a file may lack: BatchNorm's batch counters, never used at inference.
OPTIONAL = ("num_batches_tracked",)


@dataclass(frozen=True)
class LoadReport:
    path: str
    loaded: int
    unused: tuple[str, ...]


def read_weights_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file or a tensors-only ``torch.save`` file (never unpickles code)."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: backbone weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors and torch raise their own error types
        raise BundleError(f"{path}: unreadable weights file ({str(exc).splitlines()[0]})") from exc
    for key in ("state_dict", "model"):  # common checkpoint layouts
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleError(f"{path}: not a flat dict of tensors")
    return state


def strip_prefixes(name: str, prefixes: Sequence[str]) -> str:
    """``module.backbone.conv1.weight`` -> ``conv1.weight`` (every leading prefix, repeatedly)."""
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if prefix and name.startswith(prefix):
                name, changed = name[len(prefix) :], True
    return name


def load_weights(
    module: nn.Module,
    path: str | os.PathLike[str],
    *,
    prefixes: Sequence[str] = WRAPPER_PREFIXES,
    rename: Callable[[str], str | None] | None = None,
    optional: Sequence[str] = OPTIONAL,
) -> LoadReport:
    """Copy the tensors of the file ``path`` into ``module``.

    ``prefixes`` are stripped from the file's keys (``rename``, when given, maps a file key to
    the module's name for it instead, or None to skip it). Every tensor of ``module`` must be
    there with its shape, except those whose names end with one of ``optional``; otherwise a
    :class:`BundleError` names the file and the first such key."""
    tensors: dict[str, torch.Tensor] = {}
    for key, value in read_weights_file(path).items():
        mine = rename(key) if rename is not None else strip_prefixes(key, prefixes)
        if mine is not None:
            tensors[mine] = value
    target = module.state_dict()
    missing = [k for k in target if k not in tensors and not k.endswith(tuple(optional))]
    for key, value in target.items():
        if key in missing:
            raise BundleError(
                f"{path}: no tensor {key!r} in the file ({len(missing)} of the module's {len(target)} tensors "
                "are missing)"
            )
        if key in tensors and tuple(tensors[key].shape) != tuple(value.shape):
            shapes = f"{tuple(tensors[key].shape)} in the file, {tuple(value.shape)} in the model"
            raise BundleError(f"{path}: tensor {key!r} has shape {shapes}")
    wanted = {k: tensors[k] for k in target if k in tensors}
    module.load_state_dict(wanted, strict=False)
    return LoadReport(str(path), len(wanted), tuple(sorted(set(tensors) - set(target))))
