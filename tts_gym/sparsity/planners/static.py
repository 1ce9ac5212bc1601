"""Input-independent schedules: FORA / EfficientVLA interval reuse, BAC's block-wise update steps
and tail plans (the last steps computed, chosen by chunk error).

Each produces one fixed plan ``[K, 3L]`` (a ``FixedPlanner``) that reuses the T cache: a block
that is not updated at a step takes its output from the last step where it was computed.
"""
from __future__ import annotations

import numpy as np
import torch

from ...backbone.config import BLOCKS_PER_LAYER
from ..cache import ResidualCache
from ..chunk_error import executed_l1
from ..plan import PLAN_DTYPE, Decision, dense_plan
from .base import FixedPlanner


def interval_plan(steps: int, blocks: int, interval: int) -> np.ndarray:
    """Compute every block every ``interval`` steps (step 0 included), reuse T in between."""
    if interval < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    plan = np.full((steps, blocks), Decision.REUSE_T, PLAN_DTYPE)
    plan[::interval] = Decision.COMPUTE
    return plan


def interval_for_reuse(rho: float) -> int:
    """The interval N whose plan reuses about ``rho`` of the steps (1 - 1/N)."""
    if not 0 <= rho < 1:
        raise ValueError(f"rho must be in [0, 1), got {rho}")
    return max(1, round(1 / (1 - rho)))


def interval_planner(steps: int, blocks: int, interval: int) -> FixedPlanner:
    return FixedPlanner(interval_plan(steps, blocks, interval))


# ---------------------------------------------------------------------------------------------- BAC
@torch.no_grad()
def calibration_residuals(policy, windows: np.ndarray) -> torch.Tensor:
    """Residual output of every block at every step for calibration windows: [N, K, 3L, Tp*d].

    A dense act writes every (step, block) residual into the rollout cache; that is read back.
    """
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    cache = ResidualCache(steps, blocks)
    sample, noise = policy.draw_noise(len(windows), torch.Generator().manual_seed(0))
    policy.executor.run(policy.encode(windows), dense_plan(len(windows), steps, blocks), sample, noise, cache)
    return torch.stack([torch.stack([cache.read(Decision.REUSE_R, k, j).flatten(1) for j in range(blocks)], 1)
                        for k in range(steps)], 1)


def cosine_similarity_matrices(residuals: torch.Tensor) -> np.ndarray:
    """Per block, the K x K cosine similarity of its outputs across steps, averaged over samples."""
    unit = torch.nn.functional.normalize(residuals, dim=-1)  # [N, K, J, D]
    return torch.einsum("nkjd,nljd->jkl", unit, unit).div(len(residuals)).numpy()


def best_update_steps(similarity: np.ndarray, updates: int) -> tuple[list[int], float]:
    """Dynamic programming: ``updates`` steps (step 0 always) maximising the summed similarity of
    every step to the update step whose output it reuses (the last one at or before it)."""
    steps = len(similarity)
    updates = max(1, min(updates, steps))
    # gain[a, b]: steps a..b-1 all reuse the update at a
    cumulative = np.zeros((steps, steps + 1))
    for a in range(steps):
        cumulative[a, a + 1:] = np.cumsum(similarity[a:, a])
    best = np.full((updates + 1, steps + 1), -np.inf)
    choice = np.zeros((updates + 1, steps + 1), int)
    best[1, 1:] = cumulative[0, 1:]
    for m in range(2, updates + 1):
        for end in range(m, steps + 1):
            starts = np.arange(m - 1, end)
            scores = best[m - 1, starts] + cumulative[starts, end]
            choice[m, end] = starts[int(np.argmax(scores))]
            best[m, end] = scores.max()
    picked, end = [], steps
    for m in range(updates, 1, -1):
        start = choice[m, end]
        picked.append(int(start))
        end = start
    return [0] + sorted(picked), float(best[updates, steps])


def updates_for_reuse(steps: int, rho: float) -> int:
    """Steps a block computes when about ``rho`` of ``steps`` reuse (step 0 always computes)."""
    return max(1, round((1 - rho) * steps))


def bac_plan_for_reuse(similarity: np.ndarray, rho: float) -> np.ndarray:
    """BAC's plan with about ``rho`` of the K steps reused per block (step 0 always updates)."""
    return bac_plan(similarity, updates=updates_for_reuse(similarity.shape[1], rho))


def bac_plan(similarity: np.ndarray, updates: int, bubble_blocks: int = 3) -> np.ndarray:
    """BAC: per-block update steps by DP, then "bubbling union" for the blocks with most reuse error.

    The ``bubble_blocks`` blocks with the lowest achieved similarity also take the update steps of
    every FFN block at the same or a deeper layer.
    """
    blocks, steps = similarity.shape[0], similarity.shape[1]
    chosen, errors = [], []
    for j in range(blocks):
        steps_j, score = best_update_steps(similarity[j], updates)
        chosen.append(set(steps_j))
        errors.append(steps - score)
    for j in np.argsort(errors)[::-1][:bubble_blocks]:
        layer = j // BLOCKS_PER_LAYER
        for ffn in range(layer * BLOCKS_PER_LAYER + BLOCKS_PER_LAYER - 1, blocks, BLOCKS_PER_LAYER):
            chosen[j] |= chosen[ffn]
    plan = np.full((steps, blocks), Decision.REUSE_T, PLAN_DTYPE)
    for j, update_steps in enumerate(chosen):
        plan[sorted(update_steps), j] = Decision.COMPUTE
    return plan


# --------------------------------------------------------------------------------------------- tail
def tail_plan(steps: int, blocks: int, updates: int, tail: int) -> np.ndarray:
    """Compute step 0, the last ``tail`` steps and the rest of ``updates`` spread evenly in between;
    reuse T elsewhere. The last steps set the action: they are where a reused block costs most."""
    if not 0 <= tail < updates <= steps:
        raise ValueError(f"need 0 <= tail < updates <= steps, got tail={tail}, updates={updates}, steps={steps}")
    middle, span = updates - 1 - tail, steps - tail
    computed = {0, *range(span, steps), *(round(span * i / (middle + 1)) for i in range(1, middle + 1))}
    plan = np.full((steps, blocks), Decision.REUSE_T, PLAN_DTYPE)
    plan[sorted(computed)] = Decision.COMPUTE
    return plan


@torch.no_grad()
def chunk_errors(policy, windows: np.ndarray, plans: dict, seed: int = 0) -> dict:
    """Per named plan ``[K, 3L]``, how far its chunks on ``windows`` are from dense's under the same
    noise: L1 per action, weighted by how much of each action the action queue executes."""
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    memory = policy.encode(windows)
    sample, noise = policy.draw_noise(len(windows), torch.Generator().manual_seed(seed))
    weights = torch.as_tensor(policy.executed_action_weights(), dtype=torch.float32)

    def chunk(plan: np.ndarray) -> torch.Tensor:
        batch_plan = np.broadcast_to(plan, (len(windows), *plan.shape)).copy()
        return policy.executor.run(memory, batch_plan, sample.clone(), noise, ResidualCache(steps, blocks))

    reference = chunk(dense_plan(1, steps, blocks)[0])
    return {name: float(executed_l1(chunk(plan), reference, weights)) for name, plan in plans.items()}


def tail_plans(steps: int, blocks: int, rho: float) -> dict[int, np.ndarray]:
    """Tail length -> tail plan, for every tail the update count at ``rho`` allows."""
    updates = updates_for_reuse(steps, rho)
    return {tail: tail_plan(steps, blocks, updates, tail) for tail in range(updates)}


def best_tail_plan(policy, windows: np.ndarray, rho: float, seed: int = 0) -> tuple[np.ndarray, dict[int, float]]:
    """The tail plan with BAC's update count at ``rho`` whose chunks are nearest dense's on ``windows``
    (``chunk_errors``). Returns the plan and every tail length's error."""
    plans = tail_plans(policy.sampler.num_steps, policy.config.backbone.n_blocks, rho)
    errors = chunk_errors(policy, windows, plans, seed)
    return plans[min(errors, key=errors.get)], errors
