"""Pruner-training recipe."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PrunerTrainConfig:
    """Trajectory-level training (TTS): L1 to the dense chunk under shared noise + sparsity penalty.

    ``rho`` is the target share of reuse among the decisions the pruner is free to make (step 0
    and the first act of a rollout are always dense and are not counted).
    """

    strategy: str = "omni"
    rho: float = 0.95
    sparsity_weight: float = 1.0
    learning_rate: float = 1e-3
    epochs: int = 20
    batch_size: int = 8  # rollouts trained side by side
    segment_frames: int = 6  # consecutive acts per training segment (the first one dense, fills R)
    width: int = 32
    n_head: int = 2
    ffn_mult: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"rho must be in (0, 1), got {self.rho}")
        if self.segment_frames < 2:
            raise ValueError("segment_frames must be >= 2 (one dense act to fill R, then sparse ones)")
        for name in ("epochs", "batch_size", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"PrunerTrainConfig.{name} must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)
