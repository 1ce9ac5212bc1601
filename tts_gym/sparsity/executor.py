"""Runs any plan over the DP-T decoder: the only place where blocks are skipped.

``run`` executes a hard plan (inference). ``run_gated`` executes straight-through gates for pruner
training: every block is computed so its gate gets a gradient, but the forward values are exactly
those of the hard plan the gates encode, and the caches are written with the same rule (a cache
entry changes only where the block is computed).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np
import torch

from ..backbone.model import DiffusionTransformer
from ..backbone.sampler import Sampler
from .cache import ResidualCache
from .plan import Decision, PlanError, validate_plan

MIXED = -1  # marker: rows of the batch disagree on this (step, block)

AdvanceFn = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]  # (step, h, memory_k) -> h


def _late_plan(deliver: Callable[[], np.ndarray]) -> np.ndarray:
    """A plan delivered after step 0 ran dense must itself compute step 0."""
    plan = np.asarray(deliver())
    if plan.ndim == 3 and (plan[:, :1] != Decision.COMPUTE).any():
        raise PlanError("a plan delivered after step 0 must compute every block at step 0 (see enforce_warmup)")
    return plan


def uniform_decisions(plan: np.ndarray) -> np.ndarray:
    """Per (step, block) ``[K, 3L]``: the decision shared by every row, or MIXED."""
    same = (plan == plan[:1]).all(axis=0)
    return np.where(same, plan[0], MIXED)


def reuse_runs(decisions: np.ndarray | list[list[int]]) -> list[list[tuple[int, int]]]:
    """Per step, the blocks as half-open ranges: each computed or mixed block alone, and maximal
    runs of consecutive blocks that every row reuses (their residuals are added in one sum).

    Found with array operations, not a loop over every (step, block): at 100 steps this runs once
    per act() and a Python loop over its 2400 decisions cost ~2 ms, a sixth of the act's floor.
    """
    codes = np.asarray(decisions, dtype=np.int64).reshape(len(decisions), -1)
    steps, blocks = codes.shape
    reused = (codes != Decision.COMPUTE) & (codes != MIXED)
    starts = np.ones_like(reused)
    starts[:, 1:] = ~(reused[:, 1:] & reused[:, :-1])  # a range starts unless it extends a reused run
    stops = np.ones_like(reused)
    stops[:, :-1] = starts[:, 1:]
    start_rows, start_cols = np.nonzero(starts)
    ranges = list(zip(start_cols.tolist(), (np.nonzero(stops)[1] + 1).tolist()))
    bounds = np.searchsorted(start_rows, np.arange(steps + 1)).tolist()
    return [ranges[bounds[k]:bounds[k + 1]] for k in range(steps)]


def plan_layout(plan: np.ndarray) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Per step, the decisions shared by the batch and their ``reuse_runs``. Host-side, once per act()."""
    uniform = uniform_decisions(plan)
    return uniform.tolist(), reuse_runs(uniform)


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
        plan: np.ndarray | Callable[[], np.ndarray],
        sample: torch.Tensor,
        noise: torch.Tensor | None,
        cache: ResidualCache,
    ) -> torch.Tensor:
        """``memory`` [B, K, 1+To, d], ``plan`` [B, K, 3L], ``sample`` x_T [B, Tp, Da], ``noise`` [K, B, Tp, Da].

        ``plan`` may also be a callable that delivers the plan later: step 0, dense under every plan
        (``enforce_warmup``), then runs while the plan is still being made, and the plan is fetched
        and validated before step 1 (the policy's overlapped planning).
        """
        batch, steps, blocks = sample.shape[0], self.sampler.num_steps, self.model.config.n_blocks
        cache.begin_act(batch)
        pending = plan if callable(plan) else None

        def settle(new_plan: np.ndarray) -> None:
            nonlocal plan, decisions, runs, pending
            plan = validate_plan(new_plan, (batch, steps, blocks), cache.rollout_valid)
            decisions, runs = plan_layout(plan)
            pending = None

        if pending is None:
            settle(plan)
        else:  # until the plan arrives only step 0 runs, and it is dense under every plan
            decisions = [[Decision.COMPUTE] * blocks]
            runs = reuse_runs(decisions)

        def advance(k: int, h: torch.Tensor, memory_k: torch.Tensor) -> torch.Tensor:
            if k == 1 and pending is not None:
                settle(_late_plan(pending))
            plan_k = None if pending is not None else plan[:, k]  # step 0 of a late plan: dense, no rows differ
            return self._planned_blocks(k, h, memory_k, plan_k, decisions[k], runs[k], cache)

        x = self._denoise(memory, sample, noise, advance)
        if pending is not None:  # a one-step sampler never reached step 1
            settle(_late_plan(pending))
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
        gated_steps: Collection[int] | None = None,
    ) -> torch.Tensor:
        """Differentiable run: ``gates`` [B, K, 3L, G] one-hot forward (straight-through), over ``decisions``.

        ``gated_steps`` (default: all) are the steps whose gates get a gradient; the others run the
        hard plan as inference does, computing only the blocks it computes. The forward values are
        the same either way; fewer gated steps make a training step much cheaper at high sparsity
        (a gated step must compute every block, to know what reusing it costs).
        """
        cache.begin_act(sample.shape[0])
        model = self.model
        codes = np.asarray(decisions, dtype=np.int8)
        plan = codes[gates.detach().argmax(-1).numpy()]  # the hard plan the gates encode
        planned, runs = plan_layout(plan)

        def advance(k: int, h: torch.Tensor, memory_k: torch.Tensor) -> torch.Tensor:
            if gated_steps is not None and k not in gated_steps:
                return self._planned_blocks(k, h, memory_k, plan[:, k], planned[k], runs[k], cache)
            for j in range(model.config.n_blocks):
                computed = model.block_residual(j, h, memory_k)
                gate = gates[:, k, j, :, None, None]
                out = computed * gate[:, 0]
                for g, decision in enumerate(decisions[1:], start=1):
                    entry = cache.peek(decision, k, j)
                    if entry is not None:  # absent entries have gate exactly 0 (masked options)
                        out = out + entry * gate[:, g]
                cache.blend(k, j, computed, gate[:, 0])
                h = h + out
            return h

        x = self._denoise(memory, sample, noise, advance)
        cache.end_act(plan)
        return x

    def _denoise(self, memory, sample, noise, advance: AdvanceFn) -> torch.Tensor:
        """The sampling loop shared by both modes; ``advance`` runs the decoder blocks of one step."""
        self.sampler.reset()
        model, x = self.model, sample
        steps = self.sampler.num_steps
        # per-step views split off once: indexing a tensor costs microseconds, a step's floor ~0.1 ms
        noises = [None] * steps if noise is None else noise.unbind(0)
        for k, (memory_k, noise_k) in enumerate(zip(memory.unbind(1), noises)):
            h = advance(k, model.embed_actions(x), memory_k)
            x = self.sampler.step(k, model.output(h), x, noise_k)
        return x

    def _planned_blocks(self, step: int, h: torch.Tensor, memory_k: torch.Tensor, plan_k: np.ndarray | None,
                        decisions: list[int], runs: list[tuple[int, int]], cache: ResidualCache) -> torch.Tensor:
        """The blocks of one step under a hard plan: computed where planned, else read from the cache."""
        for start, stop in runs:
            decision = decisions[start]
            if decision == Decision.COMPUTE:
                computed = self.model.block_residual(start, h, memory_k)
                cache.write(step, start, computed)
                h = h + computed
            elif decision == MIXED:
                h = h + self._mixed_residual(plan_k[:, start], step, start, h, memory_k, cache)
            elif stop - start == 1:
                h = h + cache.read(decision, step, start)
            else:  # nothing is computed inside a run, so its cached entries can be summed at once
                h = h + cache.read_sum(decisions, step, start, stop)
        return h

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
