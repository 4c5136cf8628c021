"""memo's command line: one module per command, each parsing, calling one library function, rendering.

Every command's work is a library function (``memo.score.score_videos`` ...) that returns
data; this package owns typer and rich and nothing else.
"""

from memo.cli import bench, explain, export, models, report, score, train  # noqa: F401  (registers the commands)
from memo.cli.app import app

__all__ = ["app"]
