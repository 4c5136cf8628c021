"""Pretrained trunk weights from a file the user gives (never downloaded, never unpickled).

:func:`load_into` is :func:`memo.models.weights.load_weights` with the usual key prefixes of
training wrappers (``module.``, ``backbone.``, ``trunk.``, ``encoder.``, ``model.``) removed:
every tensor of the target module must be found with the right shape (the classifier of a
full checkpoint, ``fc.*``, is simply left unused).
"""

from __future__ import annotations

import os

from torch import nn

from memo.models.weights import WRAPPER_PREFIXES, LoadReport, load_weights

__all__ = ["LoadReport", "load_into"]


def load_into(module: nn.Module, path: str | os.PathLike[str]) -> LoadReport:
    """Copy the file's tensors into ``module`` (all of its tensors must be there, shapes equal)."""
    return load_weights(module, path, prefixes=WRAPPER_PREFIXES)
