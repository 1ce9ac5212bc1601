"""Training recipes for the dense DP-T, as validated dataclasses with named presets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..backbone.sampler import SamplerConfig
from ..data.normalizer import DEFAULT_RANGE_EPS


@dataclass(frozen=True)
class ModelShape:
    """The parts of the backbone a recipe chooses; data sizes come from the dataset."""

    horizon: int
    n_obs_steps: int
    n_action_steps: int
    n_layer: int = 8
    n_head: int = 4
    n_emb: int = 128
    p_drop_emb: float = 0.0
    # DP uses attention dropout; on this CPU its random masks cost ~30% of a training step, and the
    # short CPU schedules here do not reach the regime where it helps. Set it > 0 for long runs.
    p_drop_attn: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """DP's transformer recipe (AdamW, parameter groups, cosine with warm-up, EMA), CPU-sized."""

    shape: ModelShape
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 3e-4
    weight_decay: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 200
    ema_power: float = 0.75
    ema_max_decay: float = 0.9999
    val_ratio: float = 0.05
    seed: int = 0
    grad_clip: float = 1.0
    # observation dimensions whose dataset range is below this are held constant by the normalizer
    # rather than stretched to [-1, 1]. DP's 1e-4 by default; Kitchen joints the demos never move on
    # purpose (burner knobs, hinge doors) twitch by 1e-4 to 1e-2 under contact, and stretched that
    # noise becomes a feature (docs/experiments.md, "Joint positions only").
    obs_range_eps: float = DEFAULT_RANGE_EPS

    def __post_init__(self) -> None:
        if isinstance(self.shape, dict):
            object.__setattr__(self, "shape", ModelShape(**self.shape))
        if isinstance(self.sampler, dict):
            object.__setattr__(self, "sampler", SamplerConfig(**self.sampler))
        object.__setattr__(self, "betas", tuple(self.betas))
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.val_ratio < 1:
            raise ValueError(f"val_ratio must be in [0, 1), got {self.val_ratio}")
        if self.obs_range_eps < 0:
            raise ValueError(f"obs_range_eps must be >= 0, got {self.obs_range_eps}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> "TrainConfig":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


PRESETS: dict[str, TrainConfig] = {
    # D4RL-kitchen low-dim shapes of the DP paper
    "kitchen": TrainConfig(ModelShape(horizon=16, n_obs_steps=4, n_action_steps=8)),
    # robomimic low-dim shapes of the DP paper (Lift, Can, Square)
    "robomimic": TrainConfig(ModelShape(horizon=10, n_obs_steps=2, n_action_steps=8)),
    # seconds-long runs for tests
    "tiny": TrainConfig(ModelShape(horizon=6, n_obs_steps=2, n_action_steps=4, n_layer=2, n_head=2, n_emb=32),
                        epochs=2, batch_size=32, warmup_steps=5, val_ratio=0.2),
}
