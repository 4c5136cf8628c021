"""Print the architecture table of docs/models.md (the rows of ``memo models``) as Markdown.

    python benchmarks/models_table.py            # the table, then the seconds each row took

Parameters and GFLOPs are of each architecture's default configuration, counted on the meta
device (:mod:`memo.models.catalogue`): no arithmetic runs, so the figures do not depend on
the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memo.models.catalogue import catalogue, markdown_table


def main() -> None:
    rows = catalogue()
    print(markdown_table(rows))
    print()
    print("profiled in " + ", ".join(f"{r.name} {r.profile_seconds:.2f} s" for r in rows), file=sys.stderr)


if __name__ == "__main__":
    main()
