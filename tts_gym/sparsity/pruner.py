"""The test-time pruner: one small pre-norm decoder layer that scores every (step, block) at once.

Queries are sinusoidal embeddings of the 3L block ids; the memory of step k is a projection of the
backbone's own condition-encoder output for that step (no second encoder). K is folded into the
batch, so one call gives the logits ``[B, K, 3L, G]`` of a whole inference.

A learned prior table ``[K, 3L, G]`` is added to the logits: started from a static plan (BAC's,
say) with the observation-dependent part at zero, the pruner begins exactly where that plan is, and
training can only move it where the fidelity loss says the observation calls for it.

Three exact shortcuts keep it cheap: the block-id queries are the same for every (row, step), so
their self-attention runs once per call; the memory is token-wise (K time tokens beside To
observation tokens, see ``DiffusionTransformer.encode_condition``), so keys and values are
projected for K + B*To tokens instead of B*K*(1+To); only cross-attention and the FFN run per
(row, step, block).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..backbone.model import sinusoidal_embedding
from .plan import Decision

# Prior logit of a static plan's option over the others: softmax gives it ~0.87 of four options,
# so argmax is the plan and the gates' gradients are not yet saturated.
PRIOR_MARGIN = 3.0

STRATEGIES: dict[str, tuple[Decision, ...]] = {
    # TTS: compute, or reuse from any of the three directions of the cache lattice
    "omni": (Decision.COMPUTE, Decision.REUSE_F, Decision.REUSE_T, Decision.REUSE_R),
    # SAG: compute, or reuse the one-for-all buffer shared by the blocks of one kind
    "one_for_all": (Decision.COMPUTE, Decision.REUSE_F),
}


@dataclass(frozen=True)
class PrunerConfig:
    strategy: str
    n_blocks: int  # 3L of the backbone
    backbone_width: int  # d of the backbone's condition encoder output
    width: int = 32
    n_head: int = 2
    ffn_mult: int = 4
    n_steps: int = 0  # K of the sampler when the pruner has a prior table (0: none)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {self.strategy!r}")
        if self.width % self.n_head or self.width % 2:
            raise ValueError(f"width ({self.width}) must be even and divisible by n_head ({self.n_head})")
        for name in ("n_blocks", "backbone_width", "width", "ffn_mult"):
            if getattr(self, name) < 1:
                raise ValueError(f"PrunerConfig.{name} must be >= 1")
        if self.n_steps < 0:
            raise ValueError(f"PrunerConfig.n_steps must be >= 0 (0: no prior table), got {self.n_steps}")

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return STRATEGIES[self.strategy]

    def to_dict(self) -> dict:
        return asdict(self)


class Pruner(nn.Module):
    def __init__(self, config: PrunerConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.register_buffer("block_ids", sinusoidal_embedding(torch.arange(config.n_blocks), w), persistent=False)
        self.query_proj = nn.Linear(w, w)
        self.memory_proj = nn.Linear(config.backbone_width, w)
        self.self_attn = nn.MultiheadAttention(w, config.n_head, batch_first=True)
        self.cross_q = nn.Linear(w, w)
        self.cross_kv = nn.Linear(w, 2 * w)
        self.cross_out = nn.Linear(w, w)
        self.norm1, self.norm2, self.norm3, self.norm_out = (nn.LayerNorm(w) for _ in range(4))
        self.ffn = nn.Sequential(nn.Linear(w, config.ffn_mult * w), nn.GELU(), nn.Linear(config.ffn_mult * w, w))
        self.head = nn.Linear(w, len(config.decisions))
        if config.n_steps:
            self.prior = nn.Parameter(torch.zeros(config.n_steps, config.n_blocks, len(config.decisions)))
        with torch.no_grad():  # start out preferring to compute: the backbone's own output
            self.head.bias.zero_()
            self.head.bias[0] = 2.0

    @torch.no_grad()
    def start_from_plan(self, plan: np.ndarray, margin: float = PRIOR_MARGIN) -> None:
        """Begin exactly at a static plan ``[K, 3L]``: its option gets ``margin`` in the prior table,
        the others 0, and the observation-dependent part starts at zero (a zero head), so argmax
        reproduces the plan while every gate still gets a gradient."""
        plan = np.asarray(plan)
        if not self.config.n_steps:
            raise ValueError("this pruner has no prior table (PrunerConfig.n_steps = 0)")
        if plan.shape != tuple(self.prior.shape[:2]):
            raise ValueError(f"plan must have shape [K, 3L] = {list(self.prior.shape[:2])}, got {list(plan.shape)}")
        codes = np.array([int(d) for d in self.config.decisions])  # sorted: a code's option is its rank
        if not np.isin(plan, codes).all():
            foreign = [Decision(int(c)).name for c in np.setdiff1d(plan, codes)]
            raise ValueError(f"the plan uses {foreign}, which the {self.config.strategy!r} strategy cannot choose")
        option = torch.from_numpy(np.searchsorted(codes, plan.astype(np.int64)))
        self.prior.zero_().scatter_(-1, option[..., None], margin)
        self.head.weight.zero_()
        self.head.bias.zero_()

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        """``memory`` [B, K, 1+To, d] (time token first) -> logits [B, K, 3L, G]."""
        batch, steps = memory.shape[:2]
        heads, width = self.config.n_head, self.config.width
        queries = self.query_proj(self.block_ids)[None]  # [1, 3L, w]
        h = self.norm1(queries)
        queries = queries + self.self_attn(h, h, h, need_weights=False)[0]  # same for every (b, k)
        q = self.cross_q(self.norm2(queries)).view(1, 1, -1, heads, width // heads)  # [1,1,3L,H,w/H]
        # memory tokens are token-wise: project the K time tokens and the B*To obs tokens apart
        time_kv = self.cross_kv(self.memory_proj(memory[0, :, 0]))  # [K, 2w]
        obs_kv = self.cross_kv(self.memory_proj(memory[:, 0, 1:]))  # [B, To, 2w]
        kv = torch.cat((time_kv[None, :, None].expand(batch, -1, -1, -1),
                        obs_kv[:, None].expand(-1, steps, -1, -1)), dim=2)  # [B, K, 1+To, 2w]
        k, v = kv.view(batch, steps, -1, 2, heads, width // heads).unbind(3)  # [B, K, T, H, w/H]
        # the 1+To memory tokens are few: softmax over a short last axis is ~10x slower on CPU than over a
        # middle one, so the scores keep the token axis second to last
        scores = torch.einsum("bkqhc,bkthc->bkhtq", q.expand(batch, steps, -1, -1, -1), k) / (width // heads) ** 0.5
        attended = torch.einsum("bkhtq,bkthc->bkqhc", scores.softmax(-2), v).flatten(-2)  # [B, K, 3L, w]
        x = queries[None] + self.cross_out(attended)
        x = x + self.ffn(self.norm3(x))
        logits = self.head(self.norm_out(x))
        return logits + self.prior if self.config.n_steps else logits


def available_options(decisions: tuple[Decision, ...], rollout_valid: torch.Tensor,
                      fresh_rows: torch.Tensor | None = None) -> torch.Tensor:
    """Which gate options exist per (row, step, block): [B, K, 3L, G] bool.

    Step 0 is dense (it fills F and T); after it every block has been computed once, so F and T
    exist at every later step. R exists where an earlier act computed that (step, block). Rows in
    ``fresh_rows`` start a rollout and compute everything (the gates' side of ``enforce_warmup``).
    """
    batch, steps, blocks = rollout_valid.shape
    ok = torch.ones(batch, steps, blocks, len(decisions), dtype=torch.bool)
    ok[:, 0, :, 1:] = False
    if fresh_rows is not None:
        ok[fresh_rows, :, :, 1:] = False
    for g, decision in enumerate(decisions):
        if decision == Decision.REUSE_R:
            ok[..., g] &= rollout_valid
    return ok


def masked_logits(logits: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(~available, float("-inf"))


def straight_through_gates(logits: torch.Tensor, available: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard one-hot gates forward, softmax gradient backward; also returns the probabilities."""
    probs = masked_logits(logits, available).softmax(-1)
    hard = F.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)
    return hard + probs - probs.detach(), probs
