"""A learned planner frozen into one static plan: at each (step, block), the decision it makes most.

A pruner that starts from a static plan's prior table can stay close to a static plan: over its
training acts, the shipped Can DDPM-100 rho 0.92 pruner's decisions differ from their per-decision
mode on 3e-5 of the decisions (one act in thirteen has any difference). Frozen, the plan keeps what
training found and no act pays for the pruner. Whether the rare input-dependent decisions mattered
is for episodes to say, so a frozen plan is evaluated like any other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..plan import PLAN_DTYPE, Decision, enforce_warmup, sparsity, validate_plan
from .base import FixedPlanner, Planner


@dataclass(frozen=True)
class FreezeReport:
    acts: int  # observation windows planned
    decisions_changed: float  # share of the planner's decisions the frozen plan makes otherwise
    acts_changed: float  # share of acts whose plan the frozen one does not equal
    reuse: float  # the frozen plan's share of reused blocks


def modal_plan(plans: np.ndarray) -> np.ndarray:
    """``[N, K, 3L]`` plans -> ``[K, 3L]``: the most frequent decision per (step, block); a tie goes
    to the lower code, COMPUTE first."""
    plans = np.asarray(plans)
    counts = np.stack([(plans == decision).sum(0) for decision in Decision], axis=-1)
    return counts.argmax(-1).astype(PLAN_DTYPE)


@torch.no_grad()
def freeze(planner: Planner, memories: list[torch.Tensor], blocks: int) -> tuple[FixedPlanner, FreezeReport]:
    """The modal plan of ``planner`` over ``memories`` (each [B, K, 1+To, d]) for a decoder of ``blocks``
    (3L) blocks, planned as in every act after a rollout's first: every rollout-cache entry available."""
    plans = np.concatenate([planner.plan(memory, np.ones((*memory.shape[:2], blocks), bool)) for memory in memories])
    plan = enforce_warmup(modal_plan(plans)[None], np.zeros(1, bool))
    validate_plan(plan, plan.shape, np.ones(plan.shape, bool))
    differs = plans != plan
    report = FreezeReport(acts=len(plans), decisions_changed=float(differs.mean()),
                          acts_changed=float(differs.any(axis=(1, 2)).mean()), reuse=sparsity(plan))
    return FixedPlanner(plan[0]), report
