"""How far a sparse chunk is from its dense reference, counting what the env receives."""
from __future__ import annotations

import torch


def executed_l1(chunk: torch.Tensor, reference: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """L1 per predicted action ``[B, Tp, Da]``, weighted over Tp by how much of each action the queue
    executes (``policy.executed_action_weights()``), summed over the horizon, mean over rows."""
    return ((chunk - reference).abs().mean(-1) * weights).sum(-1).mean()
