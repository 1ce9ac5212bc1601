"""Input-dependent planning with the pruner: TTS's omni-reuse and SAG's one-for-all reuse."""
from __future__ import annotations

import numpy as np
import torch

from ..plan import PLAN_DTYPE
from ..pruner import Pruner, PrunerConfig, available_options, masked_logits
from .base import Planner


class PrunerPlanner(Planner):
    """argmax over the options that exist, one batched pruner call, one host transfer."""

    name = "pruner"

    def __init__(self, pruner: Pruner, compute_offset: float = 0.0) -> None:
        self.pruner = pruner.eval().requires_grad_(False)
        self.compute_offset = float(compute_offset)  # added to the COMPUTE logit; see calibrate_compute_offset
        self._codes = torch.tensor([int(d) for d in pruner.config.decisions], dtype=torch.int8)

    @property
    def strategy(self) -> str:
        return self.pruner.config.strategy

    @torch.no_grad()
    def plan(self, memory: torch.Tensor, rollout_valid: np.ndarray) -> np.ndarray:
        logits = self.pruner(memory)
        logits[..., 0] += self.compute_offset
        available = available_options(self.pruner.config.decisions, torch.from_numpy(rollout_valid))
        choice = masked_logits(logits, available).argmax(-1)
        return self._codes[choice].numpy().astype(PLAN_DTYPE, copy=False)

    def state(self):
        return {"config": self.pruner.config.to_dict(), "weights": self.pruner.state_dict(),
                "compute_offset": self.compute_offset}

    @classmethod
    def from_state(cls, state):
        pruner = Pruner(PrunerConfig(**state["config"]))
        pruner.load_state_dict(state["weights"])
        return cls(pruner, float(state.get("compute_offset", 0.0)))


@torch.no_grad()
def calibrate_compute_offset(pruner: Pruner, memories: list[torch.Tensor], rho: float, iterations: int = 40) -> float:
    """The offset on the COMPUTE logit that makes the share of reuse among free decisions equal ``rho``.

    Training pulls the *average* compute share toward the target, but a shared parameter can move
    many decisions at once, so the share of a trained pruner lands near, not on, the target. A scalar
    offset found by bisection on the training observations (decisions after step 0, with every cache
    available, as in any act after the first) puts it on the target, like L2C's threshold.
    """
    margins = reuse_margins(pruner, memories)
    low, high = float(margins.min()) - 1.0, float(margins.max()) + 1.0
    for _ in range(iterations):
        middle = (low + high) / 2
        low, high = (middle, high) if reuse_share(margins, middle) > rho else (low, middle)
    offset = (low + high) / 2
    # a pruner still near its static plan has a few distinct margins, and the bisection may land on a
    # tie that flips far more decisions than it should: no offset unless it gets nearer the target
    return offset if abs(reuse_share(margins, offset) - rho) < abs(reuse_share(margins, 0.0) - rho) else 0.0


@torch.no_grad()
def reuse_margins(pruner: Pruner, memories: list[torch.Tensor]) -> torch.Tensor:
    """Per free decision (after step 0, every cache available), the best reuse logit minus the
    compute logit: the decision reuses while the compute offset stays at or below it."""
    pruner.eval()
    logits = torch.cat([pruner(memory)[:, 1:].reshape(-1, len(pruner.config.decisions)) for memory in memories])
    return logits[:, 1:].max(-1).values - logits[:, 0]


def reuse_share(margins: torch.Tensor, offset: float) -> float:
    """Share of the free decisions (their ``reuse_margins``) that reuse under a compute-logit ``offset``."""
    return float((margins >= offset).float().mean())
