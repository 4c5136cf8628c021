"""The summary of a cluster run, computed from the whole output folder with Arrow.

Like local scoring's, it covers every row of the output (earlier runs included), groups
failures by reason and names the most and least memorable videos; it also names the
slowest videos (decode + inference seconds). Only the first output, ``path``, ``status``,
``error`` and ``seconds`` are read, and only the ten ranked scores and the failed rows
become Python objects, so the summary of 10M rows costs those columns' Arrow memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memo.score.summary import ScoreSummary

RANKED = 5


@dataclass
class FolderSummary(ScoreSummary):
    """A :class:`ScoreSummary` whose mean and ranking come from Arrow, not from every row."""

    mean: float | None = None
    slowest: list[tuple[str, float]] = field(default_factory=list)

    @property
    def mean_score(self) -> float | None:  # type: ignore[override]
        return self.mean

    def to_json(self, top: int = RANKED) -> dict[str, Any]:
        data = super().to_json(top)
        data["slowest"] = [{"path": p, "seconds": s} for p, s in self.slowest]
        return data


def directory_summary(out: Any, output_name: str, run: ScoreSummary) -> FolderSummary:
    """``run``'s figures for this invocation plus the folder's counts, mean, ranks and failures."""
    import pyarrow.compute as pc

    summary = FolderSummary(**{k: getattr(run, k) for k in ScoreSummary.__dataclass_fields__})
    table = out.read_rows(["path", output_name, "status", "error", "warning", "seconds"])
    if table is None:
        return summary
    ok = pc.equal(table["status"], "ok")
    good, bad = table.filter(ok), table.filter(pc.invert(ok))
    summary.total, summary.scored, summary.failed = table.num_rows, good.num_rows, bad.num_rows
    summary.warned = int(pc.sum(pc.not_equal(good["warning"], "")).as_py() or 0)
    summary.mean = pc.mean(good[output_name]).as_py() if good.num_rows else None
    summary.scores = _extremes(good, output_name)
    summary.failures = list(zip(bad["path"].to_pylist(), bad["error"].to_pylist(), strict=True))
    slow = (
        good.take(pc.select_k_unstable(good, RANKED, [("seconds", "descending")])) if good.num_rows else good
    )
    summary.slowest = list(zip(slow["path"].to_pylist(), slow["seconds"].to_pylist(), strict=True))
    return summary


def _extremes(good: Any, name: str) -> list[tuple[str, float]]:
    """The top and bottom ``RANKED`` rows by ``name`` (what the summary ranks), de-duplicated."""
    import pyarrow.compute as pc

    if not good.num_rows:
        return []
    picked: dict[str, float] = {}
    for order in ("descending", "ascending"):
        rows = good.take(pc.select_k_unstable(good, RANKED, [(name, order)]))
        picked.update(zip(rows["path"].to_pylist(), rows[name].to_pylist(), strict=True))
    return list(picked.items())
