"""Runs any plan over the DP-T decoder: the only place where blocks are skipped."""
from __future__ import annotations

import numpy as np
import torch

from ..backbone.model import DiffusionTransformer
from ..backbone.sampler import Sampler
from .cache import ResidualCache
from .plan import Decision, validate_plan

MIXED = -1  # marker: rows of the batch disagree on this (step, block)


def uniform_decisions(plan: np.ndarray) -> list[list[int]]:
    """Per (step, block): the decision shared by every row, or MIXED. Host-side, once per act()."""
    same = (plan == plan[:1]).all(axis=0)
    return np.where(same, plan[0], MIXED).tolist()


class PlanExecutor:
    """Denoises a batch under a plan, keeping the residual caches of DESIGN.md section 2.

    A block runs only on rows whose decision is COMPUTE; other rows take their cached residual.
    When all rows agree (always at batch 1) the decision is taken once for the whole batch.
    """

    def __init__(self, model: DiffusionTransformer, sampler: Sampler) -> None:
        self.model = model
        self.sampler = sampler

    @torch.no_grad()
    def run(
        self,
        memory: torch.Tensor,
        plan: np.ndarray,
        sample: torch.Tensor,
        noise: torch.Tensor | None,
        cache: ResidualCache,
    ) -> torch.Tensor:
        """``memory`` [B, K, 1+To, d], ``plan`` [B, K, 3L], ``sample`` x_T [B, Tp, Da], ``noise`` [K, B, Tp, Da]."""
        batch, steps = sample.shape[0], self.sampler.num_steps
        blocks = self.model.config.n_blocks
        cache.begin_act(batch)
        plan = validate_plan(plan, (batch, steps, blocks), cache.rollout_valid)
        decisions = uniform_decisions(plan)
        self.sampler.reset()
        model, x = self.model, sample
        for k in range(steps):
            memory_k = memory[:, k]
            h = model.embed_actions(x)
            for j, decision in enumerate(decisions[k]):
                if decision == Decision.COMPUTE:
                    residual = model.block_residual(j, h, memory_k)
                    cache.write(k, j, residual)
                elif decision == MIXED:
                    residual = self._mixed_residual(plan[:, k, j], k, j, h, memory_k, cache)
                else:
                    residual = cache.read(decision, k, j)
                h = h + residual
            x = self.sampler.step(k, model.output(h), x, None if noise is None else noise[k])
        cache.end_act(plan)
        return x

    def _mixed_residual(self, decisions, step, block, h, memory_k, cache: ResidualCache) -> torch.Tensor:
        residual = torch.empty_like(h)
        for decision in Decision:
            rows = np.flatnonzero(decisions == decision)
            if not len(rows):
                continue
            index = torch.from_numpy(rows)
            if decision == Decision.COMPUTE:
                computed = self.model.block_residual(block, h[index], memory_k[index])
                cache.write(step, block, computed, rows=index)
                residual[index] = computed
            else:
                residual[index] = cache.read(decision, step, block)[index]
        return residual
