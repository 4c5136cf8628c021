"""A registry of model architectures (timm's idea): name -> builder + default spec.

This module only holds the registry; it imports no model. A model module registers its
architectures with ``@register_model`` when it is imported, and ``memo/models/__init__.py``
imports every built-in model module, so importing anything under ``memo.models`` (this
module included) fills the registry first. Imports point one way: model modules import
the registry, never the reverse.

Adding an architecture:

1. write ``memo/models/<name>.py`` with a builder decorated by ``@register_model("<name>",
   spec=<name>_spec, paper="...")`` (imports from ``memo.models.registry`` and
   ``memo.models.spec`` only, plus shared parts such as ``memo.models.backbones``);
2. add ``"<name>",`` to ``BUILTIN`` in ``memo/models/__init__.py`` (one line).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from memo.errors import BundleError
from memo.models.spec import ModelSpec

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    default_spec: Callable[[], ModelSpec]
    paper: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, spec: Callable[[], ModelSpec], paper: str = ""
) -> Callable[[Builder], Builder]:
    """Register ``builder(**arch_args) -> nn.Module`` under ``name``.

    The module's ``forward`` takes the spec's inputs as keyword tensors and returns a
    dict with one tensor per output, shaped ``(rows,)``.
    """

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, builder, spec, paper)
        return builder

    return decorate


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_REGISTRY))}"
        raise BundleError(f"unknown architecture {name!r}{hint}") from None


def create_model(name: str, **arch_args: Any) -> nn.Module:
    """Build an architecture by name with random/initial weights."""
    return get_entry(name).builder(**arch_args)


def list_models() -> list[str]:
    return sorted(_REGISTRY)
