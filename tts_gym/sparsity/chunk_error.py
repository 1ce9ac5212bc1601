"""How far a sparse chunk is from its dense reference, counting what the env receives."""
from __future__ import annotations

import torch


def executed_l1(chunk: torch.Tensor, reference: torch.Tensor, weights: torch.Tensor,
                dimension_weights: torch.Tensor | None = None) -> torch.Tensor:
    """L1 per predicted action ``[B, Tp, Da]``, weighted over Tp by how much of each action the queue
    executes (``policy.executed_action_weights()``), summed over the horizon, mean over rows. With
    ``dimension_weights`` [Da] (mean 1), a weighted mean over the action's dimensions."""
    error = (chunk - reference).abs()
    per_action = error.mean(-1) if dimension_weights is None else (error * dimension_weights).mean(-1)
    return (per_action * weights).sum(-1).mean()


def spread_weights(chunks: torch.Tensor, others: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per action dimension [Da], the inverse of dense's own spread between two chunks of the same
    observations under other noise ([B, Tp, Da] each, executed-weighted over Tp), scaled to mean 1:
    an error counts in units of how much the policy itself varies there, so a dimension it is sure of
    (a gripper that must close) weighs more than one it leaves to chance."""
    spread = ((chunks - others).abs() * weights[:, None]).sum(1).mean(0)
    inverse = 1.0 / spread.clamp_min(spread.mean() * 1e-3)  # a dimension that never varies: large, not infinite
    return inverse / inverse.mean()
