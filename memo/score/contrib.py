"""``memo score --explain``: per-video module contributions as extra result columns.

A model that can say how much each of its modules moves its prediction implements
``contributions(**inputs) -> {output: {"prediction": (B,), <module>: (B,), ...}}`` (today
``m3s``: :mod:`memo.models.m3s_contrib`, mean ablation of each tier's head input). The
scoring session is wrapped so that each batch's outputs also carry one column per module,
``contrib_<module>`` (``contrib_<output>_<module>`` for a model with several outputs); the
runner writes them beside the score like any other output.

Contributions need the model's own forward pieces, so ``--explain`` runs on the PyTorch
backend (the ONNX graph only returns the scores).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from memo.errors import MemoError
from memo.models.bundle import Bundle


def explainable(module: torch.nn.Module) -> bool:
    return callable(getattr(module, "contributions", None))


def contribution_columns(bundle: Bundle) -> list[str]:
    """The extra columns of ``--explain`` for ``bundle`` (empty for a model without contributions):
    named by the architecture's registry entry."""
    from memo.models.registry import get_entry

    columns = get_entry(bundle.spec.architecture).contribution_columns
    return columns(bundle.spec) if columns else []


def check_explain(bundle: Bundle, backend: str) -> None:
    """Refuse ``--explain`` up front for a model without contributions or a backend without them."""
    if not contribution_columns(bundle):
        raise MemoError(
            f"--explain: model {bundle.spec.name!r} ({bundle.spec.architecture}) reports no module "
            "contributions (m3s bundles do)"
        )
    if backend != "torch":
        raise MemoError(f"--explain: module contributions need --backend torch (not {backend!r})")


class ContributionSession:
    """A torch session whose outputs also hold the ``contrib_*`` columns of each batch."""

    def __init__(self, session: Any, bundle: Bundle) -> None:
        module = getattr(session, "module", None)
        if module is None or not explainable(module):
            raise MemoError(
                f"--explain: model {bundle.spec.name!r} ({bundle.spec.architecture}) reports no module "
                "contributions on this backend (m3s bundles on --backend torch do)"
            )
        self._session = session
        self._columns = contribution_columns(bundle)
        self._single = len(bundle.spec.output_names) == 1
        self.backend = session.backend
        self.device = session.device
        self.module = module

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        outputs = self._session.run(inputs)
        device = next(self.module.buffers()).device
        feed = {name: _tensor(inputs[name]).to(device) for name in self._session.input_names}
        with torch.inference_mode():
            contribs = self.module.contributions(**feed)
        for output, parts in contribs.items():
            for tier, value in parts.items():
                if tier == "prediction":
                    continue
                name = f"contrib_{tier}" if self._single else f"contrib_{output}_{tier}"
                outputs[name] = value.float().cpu().numpy()
        return outputs


def _tensor(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
