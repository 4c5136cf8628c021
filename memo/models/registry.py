"""A registry of model architectures (timm's idea): name -> builder + default spec.

This module only holds the registry; it imports no model. A model module registers its
architectures with ``@register_model`` when it is imported, and ``memo/models/__init__.py``
imports every built-in model module, so importing anything under ``memo.models`` (this
module included) fills the registry first. Imports point one way: model modules import
the registry, never the reverse.

Adding an architecture (``memo/models/<name>.py``, importing ``memo.models.registry``,
``memo.models.spec`` and ``memo.models.config``, plus shared parts such as ``memo.models.trunks``):

1. its arguments, declared once: a frozen dataclass ``<Name>Config(ModelConfig)`` whose fields
   (:func:`memo.models.config.arg`: type, default, one-line help) are everything a user may set;
   ``input=True`` marks one that only shapes the spec's inputs (not stored in ``arch_args``);
2. the spec function ``def <name>_spec(**args) -> ModelSpec`` reading
   ``<Name>Config.from_args(args)``, with ``arch_args=cfg.arch_args()``;
3. the module, whose constructor takes the config (``<Name>(cfg)``);
4. the builder ``def build_<name>(**arch_args)`` returning
   ``<Name>(<Name>Config.from_arch_args(arch_args))`` (runtime extras such as ``backbone_weights``
   as keywords of their own), decorated by ``@register_model("<name>", spec=<name>_spec,
   config=<Name>Config, paper="...", recipe="video")``; ``recipe`` names how ``memo train``
   trains it (:mod:`memo.trainer.recipe_api`; omit it for a model that is not trained by
   memo), the other :class:`ModelEntry` fields say what else memo needs to know of it;
5. add ``"<name>",`` to ``BUILTIN`` in ``memo/models/__init__.py`` (one line).

``--model-arg`` checks, ``memo models NAME`` and the check of a bundle's ``arch_args`` when it
is read all go through the entry's ``config``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from memo.errors import UnknownName
from memo.models.config import ModelConfig
from memo.models.spec import ModelSpec
from memo.registry import Registry

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """An architecture: its builder and default spec, and what the rest of memo needs to know of it
    (so that no code outside the model's module tests its name)."""

    name: str
    builder: Builder
    default_spec: Callable[..., ModelSpec]
    #: the architecture's arguments (:mod:`memo.models.config`): what the spec, the module and
    #: ``memo models NAME`` read
    config: type[ModelConfig]
    paper: str
    #: the ``memo train`` recipe that trains it (:mod:`memo.trainer.recipe_api`); None: not trainable
    recipe: str | None = None
    #: a note of the architecture's row in ``memo models``
    note: str = ""
    #: arch args -> arch args to profile the default configuration with (e.g. sizes of fitted buffers)
    profile_args: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: spec -> the extra ``--explain`` columns of a bundle of this architecture
    contribution_columns: Callable[[ModelSpec], list[str]] | None = None
    #: module -> None: the weights training starts from (default: the builder's initialisation)
    initial_weights: Callable[[nn.Module], None] | None = None


MODELS: Registry[ModelEntry] = Registry("architecture")


def register_model(
    name: str, *, spec: Callable[..., ModelSpec], config: type[ModelConfig], paper: str = "", **about: Any
) -> Callable[[Builder], Builder]:
    """Register ``builder(**arch_args) -> nn.Module`` under ``name`` with its ``config`` class;
    ``about``: the other fields of :class:`ModelEntry` (``recipe``, ``note``, ...). A name
    registered before is refused.

    The module's ``forward`` takes the spec's inputs as keyword tensors and returns a
    dict with one tensor per output, shaped ``(rows,)``.
    """

    def decorate(builder: Builder) -> Builder:
        MODELS.add(name, ModelEntry(name, builder, spec, config, paper, **about))
        return builder

    return decorate


def get_entry(name: str) -> ModelEntry:
    """The entry of ``name``; :class:`~memo.errors.UnknownName` (a BundleError) with close matches."""
    return MODELS.get(name)


def create_model(name: str, **arch_args: Any) -> nn.Module:
    """Build an architecture by name with random/initial weights."""
    return get_entry(name).builder(**arch_args)


def check_arch_args(name: str, arch_args: dict[str, Any], where: str = "arch_args") -> None:
    """Refuse ``arch_args`` the architecture's builder would not take (one line naming the argument)."""
    get_entry(name).config.module_args(arch_args, where)


def list_models() -> list[str]:
    return MODELS.names()


__all__ = [
    "MODELS",
    "ModelEntry",
    "UnknownName",
    "check_arch_args",
    "create_model",
    "get_entry",
    "list_models",
    "register_model",
]
