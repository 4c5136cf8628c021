"""What a scoring run reports: the whole result file, plus what this run did.

The counts, the mean, the top and bottom five and the failures describe every row of the
output file (a resumed run's summary and exit status cover the rows written before too);
``this_run`` says what this invocation added. Failures are grouped by reason (the error
with its path taken off), so 50,000 identical failures read as one line with a count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FIRST_PATHS = 3  # paths shown per failure reason


@dataclass
class ScoreSummary:
    output: Any  # Path
    model: str
    backend: str
    device: str
    decoder: str = ""  # the run's decoder; rows say which one each file used (fallbacks)
    total: int = 0  # rows in the output file
    skipped: int = 0  # rows kept from before (resume)
    retried: int = 0  # failed rows of the file scored again (resume)
    scored: int = 0  # ok rows in the file
    failed: int = 0  # failed rows in the file
    warned: int = 0
    new_scored: int = 0  # ok rows written by this run
    new_failed: int = 0
    seconds: float = 0.0
    scores: list[tuple[str, float]] = field(default_factory=list)  # (path, first output), whole file
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, error), whole file
    interrupted: bool = False
    choice: dict[str, Any] | None = None  # backend, threads, batch size and why (memo.score.fast_path)

    @property
    def videos_per_second(self) -> float:
        done = self.new_scored + self.new_failed
        return done / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_score(self) -> float | None:
        return math.fsum(s for _, s in self.scores) / len(self.scores) if self.scores else None

    @property
    def saturated(self) -> str | None:
        """A warning when every score sits exactly on a bound of [0, 1]: the model's output was
        clipped for every video (typically videos unlike its training set), so the ranking is empty."""
        values = {s for _, s in self.scores}
        if not values or not values <= {0.0, 1.0}:
            return None
        bounds = " or ".join(f"{v:.1f}" for v in sorted(values))
        return (
            f"every score is exactly {bounds}: the model's output is saturated at the bound of [0, 1] "
            "(videos unlike the ones it was trained on?), so these scores do not rank the videos"
        )

    def ranked(self) -> list[tuple[str, float]]:
        return sorted(self.scores, key=lambda item: item[1], reverse=True)

    def count_new(self, row: Mapping[str, Any]) -> None:
        if row["status"] == "ok":
            self.new_scored += 1
        else:
            self.new_failed += 1

    def set_file_rows(self, rows: Iterable[Mapping[str, Any]], output_name: str) -> None:
        """Recount everything from the rows the file now holds (one per path)."""
        self.scores, self.failures = [], []
        self.total = self.scored = self.failed = self.warned = 0
        for row in rows:
            self.total += 1
            if row.get("status") == "ok":
                self.scored += 1
                self.scores.append((str(row["path"]), float(row[output_name])))
                self.warned += bool(row.get("warning"))
            else:
                self.failed += 1
                self.failures.append((str(row["path"]), str(row.get("error") or "")))

    def failure_groups(self) -> list[dict[str, Any]]:
        """``[{"reason", "count", "paths"}]``, the commonest reason first."""
        groups: dict[str, list[str]] = {}
        for path, error in self.failures:
            groups.setdefault(failure_reason(path, error), []).append(path)
        ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
        return [{"reason": r, "count": len(p), "paths": p[:FIRST_PATHS]} for r, p in ordered]

    def to_json(self, top: int = 5) -> dict[str, Any]:
        ranked = self.ranked()
        return {
            "output": str(self.output),
            "model": self.model,
            "backend": self.backend,
            "device": self.device,
            "decoder": self.decoder,
            "total": self.total,
            "skipped": self.skipped,
            "retried": self.retried,
            "scored": self.scored,
            "failed": self.failed,
            "with_warnings": self.warned,
            "this_run": {"scored": self.new_scored, "failed": self.new_failed},
            "seconds": round(self.seconds, 3),
            "videos_per_second": round(self.videos_per_second, 3),
            "mean_score": self.mean_score,
            "saturated": self.saturated,
            "top": [{"path": p, "score": s} for p, s in ranked[:top]],
            # the least memorable, without repeating any of the top ones on small runs
            "bottom": [{"path": p, "score": s} for p, s in ranked[max(top, len(ranked) - top) :][::-1]],
            "failure_reasons": self.failure_groups(),
            "failures": [{"path": p, "error": e} for p, e in self.failures],
            "interrupted": self.interrupted,
            "choice": self.choice,
        }


def failure_reason(path: str, error: str) -> str:
    """``clip.mp4: no such file`` -> ``no such file``: the part failures have in common."""
    if not path:
        return error
    for prefix in (f"{path}: ", f"{path} "):
        if error.startswith(prefix):
            error = error[len(prefix) :]
            break
    return error.replace(path, "<path>")
