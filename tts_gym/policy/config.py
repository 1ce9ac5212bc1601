"""Everything a policy needs besides weights, as validated dataclasses stored in every checkpoint."""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..backbone.config import BackboneConfig
from ..backbone.sampler import SamplerConfig


# Inference choices: the name eval summaries, the zoo index and ``with_inference`` use -> the field.
INFERENCE_CHOICES = {"action_steps": "n_action_steps", "temperature": "temperature",
                     "temporal_ensemble": "temporal_ensemble", "ensemble_decay": "ensemble_decay"}


@dataclass(frozen=True)
class PolicyConfig:
    """Backbone, sampler, action execution, the observation layout and the sampling temperature.

    ``obs_keys`` lists the (key, size) pieces of the flat observation in order, so a policy can read
    the simulator's raw dict observation (robosuite, FrankaKitchen) as well as a flat array.
    ``temperature`` is the standard deviation of the sampler's Gaussian noise (the initial sample and
    DDPM's per-step noise). 1 samples the demonstrations' distribution, exploration noise recorded in
    the labels included; below 1 samples nearer its centre. Like ``n_action_steps`` it is an
    inference choice: the same weights run under any value.

    ``temporal_ensemble`` (also an inference choice) replaces the receding horizon, where each
    inference's first ``n_action_steps`` actions run open loop, by ACT's temporal ensembling: infer at
    every step and execute the mean of the predictions the last ``n_action_steps`` chunks made for
    this step, the chunk ``i`` inferences older than the newest weighted ``exp(ensemble_decay * i)``
    relative to it (> 0 favours the older ones; ACT's ``m``). It costs one inference per step.
    """

    backbone: BackboneConfig
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    n_action_steps: int = 8
    obs_keys: tuple[tuple[str, int], ...] = ()
    env_id: str | None = None
    temperature: float = 1.0
    temporal_ensemble: bool = False
    ensemble_decay: float = 0.01

    def __post_init__(self) -> None:
        if isinstance(self.backbone, dict):
            object.__setattr__(self, "backbone", BackboneConfig(**self.backbone))
        if isinstance(self.sampler, dict):
            object.__setattr__(self, "sampler", SamplerConfig(**self.sampler))
        object.__setattr__(self, "obs_keys", tuple((str(k), int(n)) for k, n in self.obs_keys))
        b = self.backbone
        if not isinstance(self.n_action_steps, int) or self.n_action_steps < 1:
            raise ValueError(f"n_action_steps must be a positive int, got {self.n_action_steps!r}")
        if b.n_obs_steps - 1 + self.n_action_steps > b.horizon:
            raise ValueError(
                f"executing {self.n_action_steps} actions from index n_obs_steps-1={b.n_obs_steps - 1} "
                f"needs horizon >= {b.n_obs_steps - 1 + self.n_action_steps}, got {b.horizon}"
            )
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature!r}")
        object.__setattr__(self, "temperature", float(self.temperature))
        if not isinstance(self.temporal_ensemble, bool):
            raise ValueError(f"temporal_ensemble must be True or False, got {self.temporal_ensemble!r}")
        # a step's weights grow to exp(|decay| * n_action_steps) and must stay finite in float64
        largest = math.log(sys.float_info.max) / self.n_action_steps
        if isinstance(self.ensemble_decay, bool) or not isinstance(self.ensemble_decay, (int, float)) \
                or not abs(self.ensemble_decay) < largest:
            raise ValueError(f"ensemble_decay must be a number in (-{largest:.0f}, {largest:.0f}), got {self.ensemble_decay!r}")
        object.__setattr__(self, "ensemble_decay", float(self.ensemble_decay))
        if self.obs_keys and sum(n for _, n in self.obs_keys) != b.obs_dim:
            raise ValueError(f"obs_keys sizes sum to {sum(n for _, n in self.obs_keys)}, but obs_dim is {b.obs_dim}")

    @property
    def actions_per_inference(self) -> int:
        return 1 if self.temporal_ensemble else self.n_action_steps

    def inference_choices(self) -> dict[str, Any]:
        """The choices the same weights can run under (results hold only under these), by the names
        of ``INFERENCE_CHOICES``."""
        return {name: getattr(self, field) for name, field in INFERENCE_CHOICES.items()}

    def with_inference_choices(self, **choices: Any) -> "PolicyConfig":
        """This config under other inference choices, by name (``None`` keeps the current one)."""
        return replace(self, **{INFERENCE_CHOICES[name]: value for name, value in choices.items() if value is not None})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["obs_keys"] = [list(item) for item in self.obs_keys]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PolicyConfig":
        try:
            return cls(**data)
        except TypeError as error:
            raise ValueError(f"policy config does not match PolicyConfig: {error}") from error
