"""`memo train`'s plain progress lines (stderr not a terminal): rates only where an epoch was timed."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from memo.cli.train_progress import TrainProgress


def _epoch(phase: str, index: int, epoch: int, epochs: int = 3) -> dict:
    return {"phase": phase, "phase_index": index, "phases": 2, "epoch": epoch, "epochs": epochs,
            "stopped": False, "record": {"train_loss": 0.5, "val_spearman": 0.25}}  # fmt: skip


def test_epoch_lines_never_divide_by_an_untimed_epoch() -> None:
    out = io.StringIO()
    progress = TrainProgress(Console(file=out, force_terminal=False, width=200), enabled=True, interval=0.0)
    with progress:
        for phase, index in (("fold0/m0", 0), ("fold0/m1", 1)):
            for epoch in (1, 2, 3):
                time.sleep(0.02)
                progress.event(_epoch(phase, index, epoch))
    lines = out.getvalue().splitlines()
    assert len(lines) == 6 and "fold0/m0 (1/2): epoch 1/3, loss 0.5000" in lines[0]
    assert "epochs/s" not in lines[0]  # the run's first epoch had no start to be timed from
    rates = [float(m.group(1)) for line in lines[1:] for m in [re.search(r", ([\d.]+) epochs/s", line)] if m]
    assert len(rates) == 5 and all(0 < r < 100 for r in rates), lines  # a phase's first epoch is timed too
