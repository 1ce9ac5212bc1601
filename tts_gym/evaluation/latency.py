"""act() latency measured the fair way: several policies interleaved in one process, medians.

Interleaving (A, B, A, B, ...) exposes every policy to the same machine state (frequency, caches,
other load), so the ratio of medians is meaningful on a shared CPU where absolute times drift.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..sparsity.plan import PLAN_DTYPE, Decision
from ..sparsity.planners.base import FixedPlanner


def floor_planner(policy) -> FixedPlanner:
    """Every block reused after step 0: what is left is the per-step floor (embedding, head, sampler)."""
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    plan = np.full((steps, blocks), Decision.REUSE_T, PLAN_DTYPE)
    plan[0] = Decision.COMPUTE
    return FixedPlanner(plan)


def interleaved_latency(policies: dict[str, object], windows: Sequence[np.ndarray], repeats: int = 30,
                        warmup: int = 2) -> dict[str, dict[str, float]]:
    """Median / IQR of ``predict_action_chunk`` in ms per policy, timed round-robin over ``windows``.

    Each policy's rollout starts with one untimed (dense) inference, as after a reset, so the timed
    calls are steady-state acts with a warm rollout cache.
    """
    windows = [np.asarray(w, np.float32) for w in windows]
    times: dict[str, list[float]] = {name: [] for name in policies}
    for policy in policies.values():
        policy.reset()
        for i in range(warmup):
            policy.predict_action_chunk(windows[i % len(windows)])
    for i in range(repeats):
        window = windows[i % len(windows)]
        for name, policy in policies.items():
            start = time.perf_counter()
            policy.predict_action_chunk(window)
            times[name].append(1e3 * (time.perf_counter() - start))
    stats = {}
    for name, values in times.items():
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        stats[name] = {"median_ms": float(median), "iqr_ms": float(q3 - q1), "calls": len(values),
                       "sparsity": float(policies[name].last_inference.sparsity)}
    return stats


def floor_compute_share(steps: int) -> float:
    """The floor still computes step 0 (it fills the caches): 1/K of the blocks."""
    return 1 / steps


def amdahl_limit(dense_ms: float, floor_ms: float, sparsity: float, floor_compute_share: float = 0.0) -> float:
    """Best speedup reachable at ``sparsity``: computed blocks scale, the rest of the act does not.

    The floor is timed with ``floor_compute_share`` of the blocks still computed (step 0), so its time
    splits into that share of the block time and the fixed rest (embedding, additions, head, sampler).
    """
    if not 0.0 <= floor_compute_share < 1.0:
        raise ValueError(f"floor_compute_share must be in [0, 1), got {floor_compute_share}")
    blocks_ms = max(dense_ms - floor_ms, 0.0) / (1 - floor_compute_share)
    fixed_ms = max(dense_ms - blocks_ms, 0.0)
    return dense_ms / (fixed_ms + max(1 - sparsity, floor_compute_share) * blocks_ms)
