"""``--finetune-text``: train the sentence encoder end to end with the fusion head.

The encoder (MiniLM by default, Reimers & Gurevych 2019) embeds each item's captions with
gradients on, the item's text vector is the mean of its normalised caption embeddings
(exactly what the frozen path caches), and the fusion head sees it as usual. The engine is
unchanged: the text "vector" of a split is the item's index, which this module turns into
captions inside ``fuse``, so checkpoints (encoder weights and optimizer state included)
and resume work as for frozen training.

Cost (docs/performance.md): forward + backward + AdamW of MiniLM-L6 runs at 44 captions/s
on the 2-core development CPU, so an epoch of Memento10k (35,000 captions) takes ~13 min;
fine-tuning is meant for a GPU or small datasets.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from memo.data.text import load_encoder
from memo.fsio import atomic_dir

log = logging.getLogger(__name__)

TEXT_INDEX = "text"  # the split's text "vectors" are item indices (float, one column)
ENCODER_DIR = "text_encoder"


class TextFinetune(nn.Module):
    """A trainable sentence encoder in front of a :class:`memo.models.fusion.FusionMLP`."""

    def __init__(self, encoder_name: str, head: nn.Module, captions: list[list[str]], device: str) -> None:
        super().__init__()
        import copy

        # a private copy: the memoised frozen encoder must stay frozen for other runs
        self.encoder = copy.deepcopy(load_encoder(encoder_name, "cpu")).to(device)
        self.head = head
        self.captions = captions
        self.outputs = head.outputs

    def embed(self, items: torch.Tensor) -> torch.Tensor:
        index = items.reshape(-1).long().tolist()
        texts = [c for i in index for c in self.captions[i]]
        owner = torch.tensor([j for j, i in enumerate(index) for _ in self.captions[i]], device=items.device)
        prepare = getattr(self.encoder, "preprocess", None) or self.encoder.tokenize  # renamed in v6
        features = prepare(texts)
        features = {k: v.to(items.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        rows = F.normalize(self.encoder(features)["sentence_embedding"], dim=1)
        sums = torch.zeros(len(index), rows.shape[1], device=rows.device, dtype=rows.dtype).index_add(
            0, owner, rows
        )
        counts = torch.bincount(owner, minlength=len(index)).clamp_min(1).to(rows.dtype)
        return sums / counts[:, None]

    def fuse(self, vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        vectors = dict(vectors)
        vectors[TEXT_INDEX] = self.embed(vectors[TEXT_INDEX])
        return self.head.fuse(vectors)  # type: ignore[operator]


def save_encoder(model: TextFinetune, bundle_dir: Path) -> Path:
    """Write the fine-tuned encoder (safetensors) into ``bundle_dir/text_encoder`` atomically."""
    target = bundle_dir / ENCODER_DIR
    with atomic_dir(target) as tmp:
        model.encoder.save(str(tmp), safe_serialization=True)  # type: ignore[operator]
    return target
