"""The setup shared by the decoder comparisons (issue 19): ResMem on the CPU and DALI's CPU decoder.

Imported by ``benchmarks/chroma_siting.py`` and ``benchmarks/decoder_parity.py`` as a sibling
module (each runs as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``).
Both score frames from two decoders through memo's one preprocessing, so only the decoded
pixels can move a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.decoders import resolve_decoder
from memo.data.preprocess import preprocess_frames
from memo.models.named import resolve_model
from memo.runtime import load_session

SHARED = Path(__file__).resolve().parents[2] / "shared" / "videos"


@dataclass
class ResMemOnCpu:
    session: Any  # memo.runtime session of ResMem, torch on the CPU
    spec: Any  # the model input's preprocessing
    dali: Any  # DALI's CPU decoder (memo.data.decoders)

    def score_input(self, frames: np.ndarray) -> float:
        """The mean score of already preprocessed model input ``frames``."""
        return float(self.session.run({"frames": frames})["score"].mean())

    def score(self, frames: np.ndarray) -> float:
        """The mean score of decoded RGB ``frames``, through memo's preprocessing."""
        return self.score_input(preprocess_frames(frames, self.spec))


def resmem_on_cpu() -> ResMemOnCpu:
    """ResMem (torch, CPU, seeded) and DALI's CPU decoder, as both comparisons use them."""
    torch.manual_seed(0)
    bundle = resolve_model("resmem")
    session = load_session(bundle, "torch", "cpu")
    return ResMemOnCpu(session, bundle.spec.inputs[0].preprocess, resolve_decoder("dali", "cpu").primary)
