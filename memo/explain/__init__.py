"""``memo explain``: draw a model's attention maps over the frames it saw, per video."""

from memo.explain.runner import ExplainOptions, ExplainResult, explain_videos

__all__ = ["ExplainOptions", "ExplainResult", "explain_videos"]
