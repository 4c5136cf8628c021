"""`memo score`'s progress bar and its Ctrl-C, the same for the local and the Ray engine.

:func:`run_with_progress` runs a scoring function under the bar: the bar starts once the
work is known (errors before that print alone), counts rows, rate, failures and the ETA;
Ctrl-C stops it with one line saying the finished rows are kept and how to resume (exit
130), and a :class:`~memo.errors.MemoError` becomes the usual one-line error (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from memo.cli.app import console, fail
from memo.errors import MemoError

StartFn = Callable[[int, int], None]  # (total, skipped): the work is known
RowFn = Callable[[dict[str, Any], Any], None]  # (row, summary so far): one video finished


def run_with_progress(show: bool, output: str, run: Callable[[StartFn, RowFn], Any]) -> Any:
    """``run(on_start, on_row)``'s summary, scored under the progress bar (drawn when ``show``)
    into ``output``; exits 130 on Ctrl-C (finished rows are kept: the engines write them on the
    way out) and 2 on a :class:`MemoError`."""
    progress, on_start, on_row = score_progress(show, output)
    try:
        summary = run(on_start, on_row)
    except KeyboardInterrupt:
        progress.stop()
        console.print(f"\ninterrupted: finished rows are in {output}; run again with --resume to continue")
        raise typer.Exit(130) from None
    except MemoError as exc:
        if progress.live.is_started:
            progress.stop()
        raise fail(str(exc)) from None
    progress.stop()
    return summary


def score_progress(show: bool, output: str) -> tuple[Progress, StartFn, RowFn]:
    """The progress bar and the two callbacks the scoring engines report through."""
    progress = Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} videos/s"),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        RunRateETA(),
        console=console,
        disable=not show,
        transient=False,
    )
    task = progress.add_task("score", total=None, rate="-", failed=0, start=False)

    def on_start(total: int, skipped: int) -> None:
        progress.start()  # only once the work is known: errors before that print alone
        progress.start_task(task)  # the clock of the ETA starts with the videos, not the model load
        if show and skipped:
            console.print(f"resuming: {skipped} of {total} videos already in {output}", highlight=False)
        progress.update(task, total=total - skipped)

    def on_row(row: dict[str, Any], summary: Any) -> None:
        rate = f"{summary.videos_per_second:.2f}"
        progress.update(task, advance=1, rate=rate, failed=summary.new_failed)
        if show and row["status"] != "ok":  # each failure once, here; the summary groups them
            progress.console.print(
                f"[yellow]failed:[/] {escape(row['error'])}", highlight=False, soft_wrap=True
            )

    return progress, on_start, on_row


class RunRateETA(ProgressColumn):
    """Time left from the videos finished so far and the run's own rate since it started.

    rich's own column extrapolates the last seconds' speed, which after a first batch of
    videos finishing together reads "0:00:01" with a minute to go. This one projects the
    whole run at its average rate (elapsed / finished per video) and counts down to that."""

    def render(self, task: Task) -> Text:
        return Text(format_eta(task.elapsed, task.completed, task.total), style="progress.remaining")


def format_eta(elapsed: float | None, finished: float, total: float | None) -> str:
    if not elapsed or not finished or total is None:
        return "-:--:--"
    left = max(0.0, elapsed * total / finished - elapsed)
    hours, rest = divmod(round(left), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
