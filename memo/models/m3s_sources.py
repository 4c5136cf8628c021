"""Where M3-S's mid (image) and high (clip) tiers get their vectors, for ``memo models``.

The paper's trunks (an ADE20K HRNet for the mid tier, ip-CSN-152 for the high tier) are not
available offline here. memo offers instead (all built by :mod:`memo.models.trunks`):

* mid: a frame embedder, ``resmem`` (ResMem's 256-d embedding, weights from the ``resmem``
  package) or ``torchvision:<arch>`` (classifier removed; weights supplied by the user), each
  averaged over the keyframes;
* high: a clip trunk, ``torchvision:<video arch>`` (e.g. ``torchvision:r3d_18``, 512-d; user
  weights), over a clip ``(C, T, H, W)``;
* ``tiny`` / ``tiny3d``: small fixed-seed random conv nets for tests and for generated-data
  experiments — random features, not semantics;
* or a precomputed vector from the user's files.
"""

from __future__ import annotations

from typing import Any


def pretrained_parts(args: dict[str, Any]) -> dict[str, str]:
    """Where each tier's frozen trunk comes from, and what is fitted (``memo models``)."""
    parts: dict[str, str] = {}
    for tier in ("mid", "high"):
        trunk = (args.get(tier) or {}).get("trunk")
        if tier not in args:
            continue
        if trunk is None:
            parts[tier] = "precomputed vector from the user's files"
        elif trunk in ("tiny", "tiny3d"):
            parts[tier] = f"{trunk}: fixed-seed random conv net, no pretrained weights"
        elif trunk == "resmem":
            parts[tier] = "ResMem's embedding, from the resmem package, offline"
        else:
            parts[tier] = f"frozen {trunk}: weights from the user's file (M3S.load_trunk)"
    parts["PCA, clusters, kNN bank, head"] = "fitted on the training set (fit_m3s)"
    return parts
