"""A Transformer encoder layer whose attention weights can be read (for attention rollout).

Same computation and parameter names as ``torch.nn.TransformerEncoderLayer`` with its
defaults (post-norm, ReLU feed-forward, ``batch_first=True``): ``self_attn.in_proj_weight``,
``self_attn.out_proj``, ``linear1``, ``linear2``, ``norm1``, ``norm2``, so weights trained with
the PyTorch layer load unchanged (a test checks the outputs agree). It is written out with
plain matmuls and a softmax because PyTorch's fused layer neither returns per-head weights
nor traces to ONNX as simple ops; the weights are returned only when asked, so the
exported graph (``forward`` without ``need_weights``) holds no extra outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, N, D)`` -> output ``(B, N, D)`` and weights ``(B, heads, N, N)``."""
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        scale = 1.0 / math.sqrt(q.shape[-1])
        weights = torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)
        out = (self.dropout(weights) @ v).transpose(1, 2).flatten(2)
        return self.out_proj(out), weights


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ff: int = 2048, dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, heads, dropout)
        self.linear1 = nn.Linear(dim, ff)
        self.linear2 = nn.Linear(ff, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.self_attn(x)
        x = self.norm1(x + self.dropout1(attended))
        x = self.norm2(x + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x))))))
        return x, weights


def attention_rollout(weights: list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """Abnar & Zuidema (ACL 2020): ``(B, heads, N, N)`` per layer -> rollout ``(B, N, N)``.

    Heads are averaged, the residual connection is modelled as ``residual * I +
    (1 - residual) * A``, rows are renormalised, and the layers are multiplied from the
    first to the last.
    """
    rollout = None
    for layer in weights:
        a = layer.mean(1)
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = residual * eye + (1.0 - residual) * a
        a = a / a.sum(-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    if rollout is None:
        raise ValueError("no attention layers to roll out")
    return rollout
