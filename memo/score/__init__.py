"""Scoring libraries of videos into result files.

The names below are loaded on first use, so the torch-free option checks
(:mod:`memo.score.checks`) can run before torch is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memo.score.runner import ScoreOptions, score_videos
    from memo.score.summary import ScoreSummary

__all__ = ["ScoreOptions", "ScoreSummary", "score_videos"]
_HOMES = {
    "ScoreOptions": "memo.score.runner",
    "score_videos": "memo.score.runner",
    "ScoreSummary": "memo.score.summary",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'memo.score' has no attribute {name!r}")
