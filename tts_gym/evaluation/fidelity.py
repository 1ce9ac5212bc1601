"""How far a sparse policy's chunks are from the dense policy's, on recorded rollouts.

Acts run in rollout order (so R carries as in deployment) with the *same* initial and per-step
noise for the sparse and the dense run; the dense policy under *independent* noise gives the
yardstick: the spread the policy has anyway from sampling.
"""
from __future__ import annotations

import numpy as np
import torch

from ..sparsity.cache import ResidualCache
from ..sparsity.plan import Decision, dense_plan


@torch.no_grad()
def paired_fidelity(policy, trajectories: list[np.ndarray], seed: int = 0) -> dict:
    """Sparse-vs-dense (paired noise) and dense-vs-dense (independent noise) gaps, in normalised action units.

    Means over every act after a rollout's first: L1 overall and per action dimension, the signed
    sparse-vs-dense gap per dimension (a bias shows there), and the share of each decision after step 0;
    by act index in the rollout, the L1 and the share of R (does a cache that ages through the
    rollout grow the error?).
    """
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    generator = torch.Generator().manual_seed(seed)
    gaps, spreads, sparsity, shares, act_index = [], [], [], [], []
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
            gaps.append((sparse - dense[0])[0].numpy())
            spreads.append((dense[1] - dense[0])[0].numpy())
            sparsity.append(float((plan != 0).mean()))
            shares.append([(plan[:, 1:] == d).mean() for d in Decision])
            act_index.append(f)
    gaps, spreads = np.array(gaps, np.float64), np.array(spreads, np.float64)  # [acts, Tp, Da]
    act_index, act_l1 = np.array(act_index), np.abs(gaps).mean((1, 2))
    r_share = np.array(shares)[:, list(Decision).index(Decision.REUSE_R)]
    return {"sparse_vs_dense_l1": float(np.abs(gaps).mean()), "dense_vs_dense_l1": float(np.abs(spreads).mean()),
            "sparsity": float(np.mean(sparsity)), "acts": len(gaps),
            "sparse_vs_dense_l1_per_dim": np.abs(gaps).mean((0, 1)).round(3).tolist(),
            "sparse_vs_dense_signed_per_dim": gaps.mean((0, 1)).round(3).tolist(),
            "dense_vs_dense_l1_per_dim": np.abs(spreads).mean((0, 1)).round(3).tolist(),
            "decision_shares_after_step_0": dict(zip([d.name for d in Decision],
                                                     np.mean(shares, 0).round(3).tolist())),
            "by_act_index": {int(a): {"l1": round(float(act_l1[act_index == a].mean()), 4),
                                      "reuse_r": round(float(r_share[act_index == a].mean()), 3)}
                             for a in np.unique(act_index)}}
