"""One decoder layer of DP-T, written as three explicit residual blocks.

``torch.nn.TransformerDecoderLayer`` (norm_first) hides its three residual branches inside one
``forward``; test-time sparsity needs each branch ``f(norm(x))`` on its own so that the executor can
compute it or substitute a cached one. Attribute names (``self_attn.in_proj_weight``,
``multihead_attn``, ``linear1``, ``norm1`` ...) match PyTorch's layer, so DP-T checkpoints load as-is.
"""
from __future__ import annotations

from enum import IntEnum

import torch
import torch.nn.functional as F
from torch import nn


def dropout(layer: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)``, skipping the module call where it is the identity (inference): at high sparsity
    the decoder loop is dominated by per-call overhead, and a no-op call costs what a small kernel does."""
    return layer(x) if layer.training and layer.p else x


class BlockKind(IntEnum):
    """The three residual blocks of a layer, in execution order (block id ``j`` has kind ``j % 3``)."""

    SELF_ATTENTION = 0
    CROSS_ATTENTION = 1
    FEED_FORWARD = 2


class Attention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameter layout (packed in-projection)."""

    def __init__(self, n_emb: int, n_head: int, p_drop: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.p_drop = p_drop
        self.in_proj_weight = nn.Parameter(torch.empty(3 * n_emb, n_emb))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * n_emb))
        self.out_proj = nn.Linear(n_emb, n_emb)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, source: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
        """Attend from ``query`` to ``source`` (``None``: to itself). ``mask`` is additive, [Tq, Ts]."""
        n_emb = query.shape[-1]
        if source is None:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            q = F.linear(query, self.in_proj_weight[:n_emb], self.in_proj_bias[:n_emb])
            k, v = F.linear(source, self.in_proj_weight[n_emb:], self.in_proj_bias[n_emb:]).chunk(2, dim=-1)
        q, k, v = (self._split_heads(t) for t in (q, k, v))
        drop = self.p_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, n_emb = x.shape
        return x.view(batch, length, self.n_head, n_emb // self.n_head).transpose(1, 2)


class DecoderLayer(nn.Module):
    """Pre-norm decoder layer exposing its residual branches; ``forward`` is the dense composition."""

    def __init__(self, n_emb: int, n_head: int, p_drop: float) -> None:
        super().__init__()
        self.self_attn = Attention(n_emb, n_head, p_drop)
        self.multihead_attn = Attention(n_emb, n_head, p_drop)
        self.linear1 = nn.Linear(n_emb, 4 * n_emb)
        self.linear2 = nn.Linear(4 * n_emb, n_emb)
        self.norm1 = nn.LayerNorm(n_emb)
        self.norm2 = nn.LayerNorm(n_emb)
        self.norm3 = nn.LayerNorm(n_emb)
        self.dropout = nn.Dropout(p_drop)

    def self_attention(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return dropout(self.dropout, self.self_attn(self.norm1(x), None, mask))

    def cross_attention(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return dropout(self.dropout, self.multihead_attn(self.norm2(x), memory, mask))

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = dropout(self.dropout, F.gelu(self.linear1(self.norm3(x))))
        return dropout(self.dropout, self.linear2(hidden))

    def residual(
        self,
        kind: BlockKind,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor | None,
        memory_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """The residual branch ``f(norm(x))`` of one block, before it is added to ``x``."""
        if kind == BlockKind.SELF_ATTENTION:
            return self.self_attention(x, self_mask)
        if kind == BlockKind.CROSS_ATTENTION:
            return self.cross_attention(x, memory, memory_mask)
        return self.feed_forward(x)

    def forward(self, x, memory, self_mask=None, memory_mask=None):
        x = x + self.self_attention(x, self_mask)
        x = x + self.cross_attention(x, memory, memory_mask)
        return x + self.feed_forward(x)
