"""Scoring libraries of videos into result files."""

from memo.score.runner import ScoreOptions, ScoreSummary, score_videos

__all__ = ["ScoreOptions", "ScoreSummary", "score_videos"]
