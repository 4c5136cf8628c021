"""Per-video module contributions of an M3-S model: how much each tier moves the prediction.

Method: **mean ablation**. For each tier, its block of the head's input is replaced by that
block's *training mean* (stored in the bundle as ``block_mean_<tier>`` by
:func:`memo.models.m3s_fit.fit_m3s`) and the contribution is ``prediction - prediction
with the tier ablated``. Why this and not zeros or integrated gradients:

* the training mean keeps the head's input inside the distribution it was trained on (a zero
  one-hot cluster vector, or zeros for a standardised block's neighbours, is not);
* it needs one extra head evaluation per tier and no gradients, so it is exact, cheap and
  reproducible with any backend that can run the head (the trunks run once);
* it answers the question users ask — "what would this video score if this tier saw an
  average video?" — in the units of the score.

The contributions do not add up to ``prediction - mean prediction`` in general: the head is
non-linear and tiers interact. The similarity tier's block is computed from the *actual*
low/mid/high vectors, so ablating e.g. ``mid`` leaves the distinctiveness of ``mid`` in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # m3s.py imports this module (M3S.contributions)
    from memo.models.m3s import M3S


@torch.no_grad()
def module_contributions(
    model: M3S, inputs: dict[str, torch.Tensor], raw: bool = False
) -> dict[str, dict[str, torch.Tensor]]:
    """``{output: {"prediction": (B,), <tier>: (B,), ...}}`` in eval mode.

    ``inputs`` are the model's inputs (``raw=False``) or cached :meth:`M3S.raw_vectors`
    (``raw=True``).
    """
    was_training = model.training
    model.eval()
    try:
        vectors = inputs if raw else model.raw_vectors(inputs)
        blocks = model.head_blocks(vectors)
        full = model.head_from_blocks(blocks)
        result = {name: {"prediction": value} for name, value in full.items()}
        for tier in model.head_tiers():
            mean = model.get_buffer(f"block_mean_{tier}")
            ablated = dict(blocks, **{tier: mean.expand_as(blocks[tier])})
            for name, value in model.head_from_blocks(ablated).items():
                result[name][tier] = full[name] - value
        return result
    finally:
        model.train(was_training)
