"""Pruner-training recipe."""
from __future__ import annotations

from dataclasses import asdict, dataclass


STATIC_FAMILIES = ("bac", "interval", "tail")
# the static plans a pruner can start at (or be written as); best: the family's plan nearest dense's chunks
STATIC_PLANS = (*STATIC_FAMILIES, "best")
INIT_PLANS = (*STATIC_PLANS, "none")


@dataclass(frozen=True)
class PrunerTrainConfig:
    """Trajectory-level training (TTS): L1 to the dense chunk under shared noise + sparsity penalty.

    ``rho`` is the target share of reuse among the decisions the pruner is free to make (step 0
    and the first act of a rollout are always dense and are not counted).

    ``init_plan`` starts the pruner at a static plan of that reuse (BAC's dynamic programme, interval
    reuse, the tail plan nearest dense's chunks, or by default the best of the three:
    ``best_static_plan``), so training starts from the best cheap schedule instead of from "compute
    everything". ``gated_steps`` makes a training act cheap: only that many random denoising steps
    compute every block for their gates' gradients, the rest run the hard plan as inference does.
    ``carry_rollout_cache`` keeps each lane's rollout cache R from one batch to the next, so only a
    rollout's first act is dense; off, every batch starts its lanes dense, as after a reset. Each
    batch draws ``batch_size`` of the ``lanes`` at random (see ``lanes``). ``ema_decay`` > 0 saves an
    exponential moving average of the pruner's weights (decay warming up to it) instead of the last
    state: neighbouring states' plans differ widely in success, an average of them less.
    ``validation_rollouts`` holds the last rollouts out of training: a state's hard plan is scored on
    them (see ``PrunerTrainer.validation_fidelity``), which ranks states by success where the training
    batches' loss does not.
    """

    strategy: str = "omni"
    rho: float = 0.95
    sparsity_weight: float = 1.0
    learning_rate: float = 1e-4  # the observation-dependent network's (the paper's)
    prior_learning_rate: float = 1e-2  # the prior table's: each entry is one decision, not shared
    epochs: int = 20
    batch_size: int = 8  # rollouts trained side by side
    segment_frames: int = 6  # consecutive acts of each lane per batch (one optimiser step each)
    width: int = 32
    n_head: int = 2
    ffn_mult: int = 4
    seed: int = 0
    init_plan: str = "best"  # the static plan the pruner starts at (its prior table); "none": no prior
    calibration_windows: int = 16  # observation windows BAC's similarity matrices are measured on
    gated_steps: int = 4  # denoising steps whose gates get a gradient per act (0: every step)
    executed_weighting: bool = True  # weight the fidelity term by what the action queue executes
    carry_rollout_cache: bool = True  # R carries across batches (dense act once per rollout), else per batch
    lanes: int = 32  # rollouts played side by side (at most the recorded ones); a batch draws batch_size of them
    ema_decay: float = 0.0  # the saved pruner is the weights' moving average at this decay (0: the last state)
    validation_rollouts: int = 0  # the last recorded rollouts, held out to score states by (0: none)

    def __post_init__(self) -> None:
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"rho must be in (0, 1), got {self.rho}")
        if self.segment_frames < (1 if self.carry_rollout_cache else 2):
            raise ValueError("segment_frames must be >= 1, or >= 2 when R does not carry across batches "
                             "(one dense act to fill R, then sparse ones)")
        if self.validation_rollouts < 0:
            raise ValueError(f"validation_rollouts must be >= 0, got {self.validation_rollouts}")
        for name in ("epochs", "batch_size", "width", "calibration_windows", "lanes"):
            if getattr(self, name) < 1:
                raise ValueError(f"PrunerTrainConfig.{name} must be >= 1")
        if self.init_plan not in INIT_PLANS:
            raise ValueError(f"init_plan must be one of {INIT_PLANS}, got {self.init_plan!r}")
        if self.lanes < self.batch_size:
            raise ValueError(f"lanes ({self.lanes}) must be >= batch_size ({self.batch_size}): a batch draws its rows "
                             "from the lanes")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0: no average), got {self.ema_decay}")
        if self.gated_steps < 0:
            raise ValueError(f"gated_steps must be >= 0 (0: every step), got {self.gated_steps}")

    def to_dict(self) -> dict:
        return asdict(self)
