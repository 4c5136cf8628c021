"""Scoring libraries of videos into result files."""

from memo.score.runner import ScoreOptions, score_videos
from memo.score.summary import ScoreSummary

__all__ = ["ScoreOptions", "ScoreSummary", "score_videos"]
