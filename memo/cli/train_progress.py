"""Progress of ``memo train``: a live bar on a terminal, timestamped count-and-rate lines otherwise.

Piped to a file or run from cron, a live bar prints nothing useful, so a long run instead
writes one line per stage and, at most every ``interval`` seconds (and at the end of each
phase), where it is: ``fold3/m1 (8/27): epoch 41/60, 2.1 epochs/s, loss 0.0046, val ρ 0.502``.
"""

from __future__ import annotations

import time
from datetime import datetime
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainProgress:
    def __init__(self, console: Console, enabled: bool, interval: float = 30.0) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self.interval = interval
        self._last = 0.0
        self._phase: tuple[str, float, int] | None = None  # name, started, epoch at start
        self._tick: float | None = None  # when the last epoch event came (any phase)
        self._stage: tuple[str, float] | None = None
        self.bar = Progress(
            TextColumn("[bold]{task.fields[phase]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=console, disable=not self.live, transient=True,
        )  # fmt: skip
        self.task = self.bar.add_task("train", total=None, phase="loading", info="")

    def __enter__(self) -> TrainProgress:
        self.bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.__exit__(kind, value, tb)

    def event(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if "stage" in event:
            self._on_stage(event)
        else:
            self._on_epoch(event)

    def _on_stage(self, event: dict[str, Any]) -> None:
        stage, done, total = event["stage"], event.get("done"), event.get("total")
        self.bar.update(self.task, phase=stage, total=total, completed=done or 0, info=event.get("unit", ""))
        if self.live:
            return
        now = time.monotonic()
        if self._stage is None or self._stage[0] != stage:
            self._stage = (stage, now)
            self._line(stage)
            self._last = now
        elif done is not None and (now - self._last >= self.interval or done == total):
            rate = done / max(now - self._stage[1], 1e-9)
            self._line(f"{stage}: {done}/{total} {event.get('unit', '')}, {rate:.1f}/s")
            self._last = now

    def _on_epoch(self, event: dict[str, Any]) -> None:
        record = event["record"]
        val = record.get("val_spearman")
        info = f"loss {record['train_loss']:.4f}" + (f"  val ρ {val:.3f}" if val is not None else "")
        label = f"{event['phase']} ({event['phase_index'] + 1}/{event['phases']})"
        self.bar.update(self.task, phase=label, total=event["epochs"], completed=event["epoch"], info=info)
        if self.live:
            return
        now = time.monotonic()
        if self._phase is None or self._phase[0] != event["phase"]:
            # this epoch ran since the previous epoch event (another phase's); with none before it,
            # there is no start to time it from, and the rate waits for the next epoch
            start = self._tick if self._tick is not None else now
            self._phase = (event["phase"], start, event["epoch"] - (1 if self._tick is not None else 0))
        self._tick = now
        ended = event["stopped"] or event["epoch"] >= event["epochs"]
        if now - self._last >= self.interval or ended:
            timed, seconds = event["epoch"] - self._phase[2], now - self._phase[1]
            rate = f", {timed / seconds:.1f} epochs/s" if timed > 0 and seconds > 0 else ""
            end = " (early stop)" if event["stopped"] else ""
            self._line(f"{label}: epoch {event['epoch']}/{event['epochs']}{end}{rate}, {info}")
            self._last = now

    def _line(self, text: str) -> None:
        self.console.print(f"{datetime.now().strftime('%H:%M:%S')} {text}", highlight=False, soft_wrap=True)
