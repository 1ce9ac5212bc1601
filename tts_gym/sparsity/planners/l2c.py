"""L2C (Learning-to-Cache): one learned, input-independent score per (step, block), thresholded.

Trained with the backbone frozen through the same gated executor as the pruner: each block's
output is a soft mix ``sigmoid(s) * computed + (1 - sigmoid(s)) * T-cache`` (L2C's continuous
relaxation), the loss is L1 to the dense chunk under shared noise plus a penalty on the mean
compute share. The top ``1 - rho`` of scores (after step 0) become COMPUTE in a fixed plan.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..cache import ResidualCache
from ..plan import PLAN_DTYPE, Decision, dense_plan
from .base import FixedPlanner

L2C_DECISIONS = (Decision.COMPUTE, Decision.REUSE_T)


def threshold_scores(scores: np.ndarray, rho: float) -> np.ndarray:
    """Fixed plan: step 0 dense; of the later (step, block) pairs the top ``1 - rho`` scores compute."""
    steps, blocks = scores.shape
    plan = np.full((steps, blocks), Decision.REUSE_T, PLAN_DTYPE)
    plan[0] = Decision.COMPUTE
    free = scores[1:].reshape(-1)
    keep = int(round((1 - rho) * free.size))
    if keep:
        order = np.argsort(free)[::-1][:keep]
        plan[1:].reshape(-1)[order] = Decision.COMPUTE
    return plan


def train_l2c(policy, windows: np.ndarray, rho: float, epochs: int = 3, batch_size: int = 16,
              learning_rate: float = 5e-2, sparsity_weight: float = 1.0, seed: int = 0,
              progress: bool = True) -> FixedPlanner:
    """``windows`` [N, To, Do] raw observations; returns the thresholded fixed plan."""
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    scores = torch.zeros(steps, blocks, requires_grad=True)
    optimizer = torch.optim.Adam([scores], lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    # the backbone is frozen: each batch's memory is the same every epoch
    memories = [policy.encode(windows[i:i + batch_size]) for i in range(0, len(windows), batch_size)]
    for _ in tqdm(range(epochs), desc="L2C", disable=not progress):
        for memory in memories:
            batch = len(memory)
            with torch.no_grad():
                sample, noise = policy.draw_noise(batch, generator)
                reference = policy.executor.run(memory, dense_plan(batch, steps, blocks), sample, noise,
                                                ResidualCache(steps, blocks))
            compute = torch.sigmoid(scores).clone()
            compute[0] = 1.0  # step 0 fills the T cache
            gates = torch.stack((compute, 1 - compute), -1).expand(batch, -1, -1, -1)
            chunk = policy.executor.run_gated(memory, gates, L2C_DECISIONS, sample, noise, ResidualCache(steps, blocks))
            loss = (chunk - reference).abs().mean() + sparsity_weight * compute[1:].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return FixedPlanner(threshold_scores(scores.detach().numpy(), rho))
