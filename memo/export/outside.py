"""What an exported graph does not compute: the inputs memo prepares before the graph runs.

A text bundle's ONNX/TensorRT graph starts at the caption embedding: the sentence encoders
(sentence-transformers models, run by memo in PyTorch) stay outside it. ``export.json`` states
this per input so a user running the graph elsewhere knows what to feed it.
"""

from __future__ import annotations

from memo.data.text_encoders import JOIN, encoder_names
from memo.models.spec import ModelSpec


def outside_graph(spec: ModelSpec) -> dict[str, str]:
    """Per input name, what runs outside the exported graph to make that input (empty: nothing)."""
    parts: dict[str, str] = {}
    for item in spec.inputs:
        if item.stream == "text":
            names = encoder_names(item.encoder)
            parts[item.name] = (
                f"caption embedding ({item.dim} floats): the mean over a video's captions of each "
                f"encoder's L2-normalised sentence embedding, concatenated in this order: "
                f"{JOIN.join(names)} (sentence-transformers, run by memo in PyTorch, not in the graph)"
            )
        elif item.stream == "features":
            parts[item.name] = f"precomputed features ({item.dim} floats) read from the user's files"
    return parts
