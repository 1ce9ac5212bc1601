"""Plans: the one seam between *deciding* what to compute and *running* the decoder.

A plan is an integer array ``[B, K, 3L]``: for every row of the batch, denoising step and decoder
block, compute the block or reuse one of three cached residuals. Every acceleration method (dense,
static schedules, BAC, L2C, TTS, SAG) is a planner that outputs such an array; one executor runs it.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

from ..backbone.config import BLOCKS_PER_LAYER


class Decision(IntEnum):
    COMPUTE = 0
    REUSE_F = 1  # same forward: latest computed output of this block *kind* (SA / CA / FFN)
    REUSE_T = 2  # timestep: latest computed output of this exact block, at an earlier step
    REUSE_R = 3  # rollout: this block at this step, in an earlier act() of the same rollout


NUM_DECISIONS = len(Decision)
PLAN_DTYPE = np.int8


class PlanError(ValueError):
    """A plan is malformed or reads a cache entry that does not exist yet."""


def dense_plan(batch: int, steps: int, blocks: int) -> np.ndarray:
    return np.zeros((batch, steps, blocks), dtype=PLAN_DTYPE)


def sparsity(plan: np.ndarray) -> float:
    """Share of reuse decisions in a plan."""
    return float((np.asarray(plan) != Decision.COMPUTE).mean())


def enforce_warmup(plan: np.ndarray, fresh_rows: np.ndarray) -> np.ndarray:
    """Make step 0 dense for every row, and every step dense for rows that start a rollout.

    Step 0 fills the F and T caches that later steps read; the first act() of a rollout fills R.
    """
    plan = np.array(plan, dtype=PLAN_DTYPE, copy=True)
    plan[:, 0] = Decision.COMPUTE
    plan[np.asarray(fresh_rows, dtype=bool)] = Decision.COMPUTE
    return plan


def availability(plan: np.ndarray, rollout_valid: np.ndarray) -> dict[Decision, np.ndarray]:
    """Which cache each (row, step, block) could read, given the plan's own earlier computations.

    Entries are written only when their block is computed, so availability follows from the plan:
    F needs an earlier computed block of the same kind in this act (execution order: step, block);
    T an earlier step that computed this block; R a computed entry from an earlier act.
    """
    batch, steps, blocks = plan.shape
    computed = plan == Decision.COMPUTE
    by_kind = computed.reshape(batch, steps, blocks // BLOCKS_PER_LAYER, BLOCKS_PER_LAYER)
    # order of execution within a kind: (step, layer) flattened
    flat = by_kind.transpose(0, 3, 1, 2).reshape(batch, BLOCKS_PER_LAYER, -1)
    seen_before = (np.cumsum(flat, axis=-1) - flat) > 0
    f_ok = seen_before.reshape(batch, BLOCKS_PER_LAYER, steps, -1).transpose(0, 2, 3, 1).reshape(plan.shape)
    t_ok = (np.cumsum(computed, axis=1) - computed) > 0
    return {Decision.REUSE_F: f_ok, Decision.REUSE_T: t_ok, Decision.REUSE_R: np.asarray(rollout_valid, bool)}


def validate_plan(plan: np.ndarray, shape: tuple[int, int, int], rollout_valid: np.ndarray) -> np.ndarray:
    """Check shape, codes and cache availability before any decoder work; return the plan as int8."""
    plan = np.asarray(plan)
    if plan.shape != tuple(shape):
        raise PlanError(f"plan must have shape [B, K, 3L] = {list(shape)}, got {list(plan.shape)}")
    if not np.issubdtype(plan.dtype, np.integer):
        raise PlanError(f"plan must hold integer decision codes, got dtype {plan.dtype}")
    if plan.size and (plan.min() < 0 or plan.max() >= NUM_DECISIONS):
        raise PlanError(f"plan codes must be in 0..{NUM_DECISIONS - 1} ({[d.name for d in Decision]})")
    plan = plan.astype(PLAN_DTYPE, copy=False)
    for decision, ok in availability(plan, rollout_valid).items():
        bad = np.argwhere((plan == decision) & ~ok)
        if len(bad):
            row, step, block = (int(i) for i in bad[0])
            raise PlanError(
                f"plan reads {decision.name} at row {row}, step {step}, block {block} but that cache entry "
                f"does not exist yet ({len(bad)} such decisions); an unavailable cache is never read as zeros"
            )
    return plan
