"""Training recipes as data: the stages a model's paper trains it in.

A model built here describes how its paper trains it as a list of :class:`Stage` records,
stored in its spec (``ModelSpec.metadata["recipe"]``) so that a trainer can apply it without
knowing the model: each stage names what trains (``head``: the new layers only, the trunk
frozen and its BatchNorm statistics kept; ``all``: everything), its loss (a name from
``memo.trainer.losses.LOSSES``), its number of epochs (``None``: until the run's end or
early stopping) and its learning rate.

Modules that follow this protocol define ``head_modules`` (attribute names of the new
layers) and mix in :class:`StagedModel` for :meth:`~StagedModel.trainable_parameters` and
:meth:`~StagedModel.set_stage`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from torch import nn


@dataclass(frozen=True)
class Stage:
    name: str
    train: Literal["head", "all"]
    loss: str
    epochs: int | None
    lr: float
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def recipe_json(stages: Sequence[Stage]) -> list[dict[str, Any]]:
    return [stage.to_json() for stage in stages]


def stage_from_json(data: dict[str, Any]) -> Stage:
    return Stage(**data)


class StagedModel(nn.Module):
    """Mix-in: parameters per training stage, and a frozen-trunk mode for ``head`` stages."""

    head_modules: tuple[str, ...] = ()
    _frozen_trunk: bool = False

    def head_parameters(self) -> Iterator[nn.Parameter]:
        for name in self.head_modules:
            yield from getattr(self, name).parameters()

    def trainable_parameters(self, train: str) -> list[nn.Parameter]:
        """The parameters a stage trains: ``head`` (new layers) or ``all``."""
        if train == "head":
            return list(self.head_parameters())
        if train == "all":
            return list(self.parameters())
        raise ValueError(f"unknown stage scope {train!r} (head or all)")

    def set_stage(self, train: str) -> list[nn.Parameter]:
        """Freeze everything outside the stage's scope; returns the parameters to optimise.

        In a ``head`` stage the frozen part also stays in eval mode when ``train()`` is
        called, so its BatchNorm statistics are not changed by the new task's batches.
        """
        params = self.trainable_parameters(train)
        keep = {id(p) for p in params}
        for p in self.parameters():
            p.requires_grad_(id(p) in keep)
        self._frozen_trunk = train == "head"
        self.train(self.training)
        return params

    def train(self, mode: bool = True) -> StagedModel:
        super().train(mode)
        if mode and self._frozen_trunk:
            heads = {id(m) for name in self.head_modules for m in getattr(self, name).modules()}
            for module in self.modules():
                if id(module) not in heads and module is not self:
                    module.eval()
        return self
