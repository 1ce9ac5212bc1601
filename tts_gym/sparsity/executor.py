"""Runs any plan over the DP-T decoder: the only place where blocks are skipped.

``run`` executes a hard plan (inference). ``run_gated`` executes straight-through gates for pruner
training: every block is computed so its gate gets a gradient, but the forward values are exactly
those of the hard plan the gates encode, and the caches are written with the same rule (a cache
entry changes only where the block is computed).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..backbone.model import DiffusionTransformer
from ..backbone.sampler import Sampler
from .cache import ResidualCache
from .plan import Decision, validate_plan

MIXED = -1  # marker: rows of the batch disagree on this (step, block)

ResidualFn = Callable[[int, int, torch.Tensor, torch.Tensor], torch.Tensor]


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
        batch, steps, blocks = sample.shape[0], self.sampler.num_steps, self.model.config.n_blocks
        cache.begin_act(batch)
        plan = validate_plan(plan, (batch, steps, blocks), cache.rollout_valid)
        decisions = uniform_decisions(plan)
        model = self.model

        def residual(k: int, j: int, h: torch.Tensor, memory_k: torch.Tensor) -> torch.Tensor:
            decision = decisions[k][j]
            if decision == Decision.COMPUTE:
                computed = model.block_residual(j, h, memory_k)
                cache.write(k, j, computed)
                return computed
            if decision == MIXED:
                return self._mixed_residual(plan[:, k, j], k, j, h, memory_k, cache)
            return cache.read(decision, k, j)

        x = self._denoise(memory, sample, noise, residual)
        cache.end_act(plan)
        return x

    def run_gated(
        self,
        memory: torch.Tensor,
        gates: torch.Tensor,
        decisions: Sequence[Decision],
        sample: torch.Tensor,
        noise: torch.Tensor | None,
        cache: ResidualCache,
    ) -> torch.Tensor:
        """Differentiable run: ``gates`` [B, K, 3L, G] one-hot forward (straight-through), over ``decisions``."""
        cache.begin_act(sample.shape[0])
        model = self.model

        def residual(k: int, j: int, h: torch.Tensor, memory_k: torch.Tensor) -> torch.Tensor:
            computed = model.block_residual(j, h, memory_k)
            gate = gates[:, k, j, :, None, None]
            out = computed * gate[:, 0]
            for g, decision in enumerate(decisions[1:], start=1):
                entry = cache.peek(decision, k, j)
                if entry is not None:  # absent entries have gate exactly 0 (masked options)
                    out = out + entry * gate[:, g]
            cache.blend(k, j, computed, gate[:, 0])
            return out

        x = self._denoise(memory, sample, noise, residual)
        hard = np.asarray([int(decisions[i]) for i in range(len(decisions))])[gates.argmax(-1).numpy()]
        cache.end_act(hard)
        return x

    def _denoise(self, memory, sample, noise, residual: ResidualFn) -> torch.Tensor:
        self.sampler.reset()
        model, x = self.model, sample
        blocks = range(model.config.n_blocks)
        for k in range(self.sampler.num_steps):
            memory_k = memory[:, k]
            h = model.embed_actions(x)
            for j in blocks:
                h = h + residual(k, j, h, memory_k)
            x = self.sampler.step(k, model.output(h), x, None if noise is None else noise[k])
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
