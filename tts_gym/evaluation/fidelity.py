"""How far a sparse policy's chunks are from the dense policy's, on recorded rollouts.

Acts run in rollout order (so R carries as in deployment) with the *same* initial and per-step
noise for the sparse and the dense run; the dense policy under *independent* noise gives the
yardstick: the spread the policy has anyway from sampling.
"""
from __future__ import annotations

import numpy as np
import torch

from ..sparsity.cache import ResidualCache
from ..sparsity.plan import dense_plan


@torch.no_grad()
def paired_fidelity(policy, trajectories: list[np.ndarray], seed: int = 0) -> dict[str, float]:
    """Mean L1 (normalised action units) sparse-vs-dense (paired noise) and dense-vs-dense (independent)."""
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    generator = torch.Generator().manual_seed(seed)
    sparse_l1, noise_l1, sparsity = [], [], []
    for windows in trajectories:
        cache = ResidualCache(steps, blocks)
        cache.ensure_batch(1)
        for f, window in enumerate(windows):
            memory = policy.encode(window[None])
            draws = [policy.draw_noise(1, generator) for _ in range(2)]
            plan = policy.plan(memory, cache)
            sparse = policy.executor.run(memory, plan, *draws[0], cache)
            if not f:  # the first act of a rollout is dense by design: it only fills R
                continue
            dense = [policy.executor.run(memory, dense_plan(1, steps, blocks), *d, ResidualCache(steps, blocks))
                     for d in draws]
            sparse_l1.append(float((sparse - dense[0]).abs().mean()))
            noise_l1.append(float((dense[1] - dense[0]).abs().mean()))
            sparsity.append(float((plan != 0).mean()))
    return {"sparse_vs_dense_l1": float(np.mean(sparse_l1)), "dense_vs_dense_l1": float(np.mean(noise_l1)),
            "sparsity": float(np.mean(sparsity)), "acts": len(sparse_l1)}
