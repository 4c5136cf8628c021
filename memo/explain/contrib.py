"""``memo explain`` for models with per-module contributions (``m3s``): values and bar charts.

Writes, per video, ``contributions_<output>.png`` (one bar per module,
:func:`memo.explain.bars.contribution_chart`) and puts the values under
``contributions`` in the video's ``scores.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from memo.explain.bars import contribution_chart
from memo.fsio import atomic_path


def write_contributions(
    contribs: Mapping[str, Mapping[str, torch.Tensor]], scores: dict[str, Any], video: str, folder: Path
) -> list[Path]:
    """Draw one chart per output; add ``{"contributions": {output: {module: value}}}`` to ``scores``."""
    values = {
        output: {k: float(v.reshape(-1)[0]) for k, v in parts.items() if k != "prediction"}
        for output, parts in contribs.items()
    }
    scores["contributions"] = values
    files = []
    for output, per_module in values.items():
        title = f"{Path(video).name}  {output}={scores.get(output, float('nan')):.4f}"
        path = folder / f"contributions_{output}.png"
        with atomic_path(path) as tmp:
            contribution_chart(per_module, title).save(tmp, format="PNG")
        files.append(path)
    return files
