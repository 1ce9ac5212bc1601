"""How far a sparse policy's chunks are from the dense policy's, on recorded rollouts.

Acts run in rollout order (so R carries as in deployment) with the *same* initial and per-step
noise for the sparse and the dense run; the dense policy under *independent* noise gives the
yardstick: the spread the policy has anyway from sampling.
"""
from __future__ import annotations

import numpy as np
import torch

from ..sparsity.cache import ResidualCache
from ..sparsity.plan import dense_plan, enforce_warmup


@torch.no_grad()
def paired_fidelity(policy, trajectories: list[np.ndarray], seed: int = 0) -> dict[str, float]:
    """Mean L1 (normalised action units) sparse-vs-dense (paired noise) and dense-vs-dense (independent)."""
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    b = policy.config.backbone
    generator = torch.Generator().manual_seed(seed)
    sparse_l1, noise_l1, sparsity = [], [], []
    for windows in trajectories:
        cache = ResidualCache(steps, blocks)
        for f, window in enumerate(windows):
            obs = policy.normalizer.normalize("obs", torch.from_numpy(np.asarray(window[None], np.float32)))
            memory = policy.model.encode_condition(obs, policy.sampler.timesteps)
            draws = []
            for _ in range(2):
                sample = torch.randn(1, b.horizon, b.action_dim, generator=generator)
                noise = torch.randn(steps, 1, b.horizon, b.action_dim, generator=generator) if policy.sampler.stochastic else None
                draws.append((sample, noise))
            cache.ensure_batch(1)
            plan = enforce_warmup(policy.planner.plan(memory, cache.rollout_valid), cache.fresh_rows(1))
            sparse = policy.executor.run(memory, plan, *draws[0], cache)
            dense = [policy.executor.run(memory, dense_plan(1, steps, blocks), *d, ResidualCache(steps, blocks))
                     for d in draws]
            if f:  # the first act of a rollout is dense by design
                sparse_l1.append(float((sparse - dense[0]).abs().mean()))
                noise_l1.append(float((dense[1] - dense[0]).abs().mean()))
                sparsity.append(float((plan != 0).mean()))
    return {"sparse_vs_dense_l1": float(np.mean(sparse_l1)), "dense_vs_dense_l1": float(np.mean(noise_l1)),
            "sparsity": float(np.mean(sparsity)), "acts": len(sparse_l1)}
