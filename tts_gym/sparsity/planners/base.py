"""The planner interface: every acceleration method is a way of filling a plan."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from ..plan import PLAN_DTYPE


class Planner:
    """Decides, before the decoder runs, what to compute and what to reuse.

    ``plan`` gets the decoder memory of every step (so input-dependent planners can look at the
    observation through the backbone's own condition encoder) and which rollout-cache entries exist.
    Planners are saved in checkpoints via ``state()`` / ``from_state()`` (plain tensors and numbers).
    """

    name: ClassVar[str]

    def plan(self, memory: torch.Tensor, rollout_valid: np.ndarray) -> np.ndarray:
        """``memory`` [B, K, 1+To, d], ``rollout_valid`` [B, K, 3L] bool -> int8 plan [B, K, 3L]."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Planner":
        return cls(**state)


class DensePlanner(Planner):
    """Compute everything: the reference every method is measured against."""

    name = "dense"

    def plan(self, memory, rollout_valid):
        return np.zeros(rollout_valid.shape, dtype=PLAN_DTYPE)


class FixedPlanner(Planner):
    """One input-independent plan ``[K, 3L]`` for every row: the form of all static schedules."""

    name = "fixed"

    def __init__(self, plan: np.ndarray | torch.Tensor) -> None:
        self.fixed = np.asarray(plan, dtype=PLAN_DTYPE)
        if self.fixed.ndim != 2:
            raise ValueError(f"a fixed plan has shape [K, 3L], got {list(self.fixed.shape)}")

    def plan(self, memory, rollout_valid):
        if self.fixed.shape != rollout_valid.shape[1:]:
            raise ValueError(f"fixed plan has shape {list(self.fixed.shape)}, the model needs {list(rollout_valid.shape[1:])}")
        return np.broadcast_to(self.fixed, rollout_valid.shape).copy()

    def state(self):
        return {"plan": torch.from_numpy(self.fixed.astype(np.int64))}

    @classmethod
    def from_state(cls, state):
        return cls(state["plan"].numpy())
