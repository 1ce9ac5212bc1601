"""Shape and size of the DP-T backbone, as a validated dataclass saved in every checkpoint."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackboneConfig:
    """Hyper-parameters of ``TransformerForDiffusion`` (Chi et al. 2023), low-dim, obs as condition.

    The names follow the original constructor so an existing DP-T config maps field by field.
    """

    action_dim: int
    obs_dim: int
    horizon: int  # Tp: length of the predicted action chunk
    n_obs_steps: int  # To: observations in the condition
    n_layer: int = 8
    n_head: int = 4
    n_emb: int = 256
    p_drop_emb: float = 0.0
    p_drop_attn: float = 0.3
    causal_attn: bool = True

    def __post_init__(self) -> None:
        for name in ("action_dim", "obs_dim", "horizon", "n_obs_steps", "n_layer", "n_head", "n_emb"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BackboneConfig.{name} must be a positive int, got {value!r}")
        if self.n_emb % self.n_head:
            raise ValueError(f"n_emb ({self.n_emb}) must be divisible by n_head ({self.n_head})")
        if self.n_emb % 2:
            raise ValueError(f"n_emb must be even for the sinusoidal time embedding, got {self.n_emb}")
        if self.n_obs_steps > self.horizon:
            raise ValueError(f"n_obs_steps ({self.n_obs_steps}) cannot exceed horizon ({self.horizon})")
        for name in ("p_drop_emb", "p_drop_attn"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BackboneConfig.{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def n_blocks(self) -> int:
        """Residual blocks in the decoder: self-attention, cross-attention and FFN per layer."""
        return BLOCKS_PER_LAYER * self.n_layer

    @property
    def n_cond_tokens(self) -> int:
        """Condition tokens: one time token followed by To observation tokens."""
        return 1 + self.n_obs_steps


BLOCKS_PER_LAYER = 3
