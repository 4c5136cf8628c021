"""One worker of ``memo train --nproc-per-node N``: ``python -m memo.trainer.worker OPTIONS.json``.

torchrun starts it with ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set; :func:`memo.trainer.train`
joins the group from them. A worker that torchrun restarts (``--max-restarts``, after one of
the group died) resumes from the run's last checkpoint rather than starting again
(:func:`memo.trainer.recipe.train` sees ``TORCHELASTIC_RESTART_COUNT``, as under a
``torchrun -m memo train ...`` of your own).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from memo.errors import MemoError
from memo.trainer.options import TrainOptions
from memo.trainer.recipe import train


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s rank " + os.environ.get("RANK", "0") + ": %(message)s"
    )
    if len(argv) != 1:
        print("usage: python -m memo.trainer.worker OPTIONS.json (started by memo train --nproc-per-node)")
        return 2
    options = TrainOptions.from_json(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    try:
        result = train(options, progress=_print_epoch)
    except MemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result.bundle is not None:
        print(
            f"bundle: {result.bundle}  metrics: {result.output / 'metrics.json'}  time: {result.seconds:.1f} s"
        )
    return 0


def _print_epoch(event: dict[str, Any]) -> None:
    """One line per finished epoch (rank 0 only: the other ranks get no progress)."""
    record = event.get("record")
    if record is None:
        return
    values = "  ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch" and isinstance(v, float))
    print(f"{event['phase']}  epoch {event['epoch']}/{event['epochs']}  {values}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
