"""DP-T: the transformer denoiser of Diffusion Policy (low-dim, observations as condition).

Same computation and parameter names as ``TransformerForDiffusion`` with ``obs_as_cond=True``,
``time_as_cond=True`` and ``n_cond_layers=0``, restructured for test-time sparsity:

- the condition encoder runs once per ``act()`` for all K denoising steps;
- the decoder is exposed block by block (``block_residual``) so an executor can skip blocks.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BlockKind, DecoderLayer, dropout
from .config import BLOCKS_PER_LAYER, BackboneConfig

NEG_INF = float("-inf")


def sinusoidal_embedding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """DP's ``SinusoidalPosEmb``: [sin | cos] of positions times geometric frequencies."""
    half = dim // 2
    scale = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=positions.device, dtype=torch.float32) * -scale)
    angles = positions.float()[:, None] * freqs[None, :]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


def _additive_mask(allowed: torch.Tensor) -> torch.Tensor:
    return torch.zeros(allowed.shape).masked_fill(~allowed, NEG_INF)


class Decoder(nn.Module):
    """Holds the layers under ``decoder.layers.{i}`` like ``nn.TransformerDecoder``."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(config.n_emb, config.n_head, config.p_drop_attn) for _ in range(config.n_layer)
        )


class DiffusionTransformer(nn.Module):
    """The DP-T noise predictor ``eps(x_t, t, obs)``."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.config = config
        d = config.n_emb
        self.input_emb = nn.Linear(config.action_dim, d)
        self.pos_emb = nn.Parameter(torch.zeros(1, config.horizon, d))
        self.cond_obs_emb = nn.Linear(config.obs_dim, d)
        self.cond_pos_emb = nn.Parameter(torch.zeros(1, config.n_cond_tokens, d))
        self.drop = nn.Dropout(config.p_drop_emb)
        # n_cond_layers=0: a token-wise MLP. Token-wise matters: it lets the time tokens of all K
        # steps be encoded apart from the observation tokens (see ``encode_condition``).
        self.encoder = nn.Sequential(nn.Linear(d, 4 * d), nn.Mish(), nn.Linear(4 * d, d))
        self.decoder = Decoder(config)
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.action_dim)
        if config.causal_attn:
            steps = torch.arange(config.horizon)
            self.register_buffer("mask", _additive_mask(steps[:, None] >= steps[None, :]))
            # condition token s (0 = time) is visible to action token t when s <= t + 1
            cond = torch.arange(config.n_cond_tokens)
            self.register_buffer("memory_mask", _additive_mask(steps[:, None] >= cond[None, :] - 1))
        else:
            self.mask = None
            self.memory_mask = None
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # DP-T's initialisation: N(0, 0.02) for linear layers, zero biases, unit LayerNorms.
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, DiffusionTransformer):
            nn.init.normal_(module.pos_emb, mean=0.0, std=0.02)
            nn.init.normal_(module.cond_pos_emb, mean=0.0, std=0.02)
        elif hasattr(module, "in_proj_weight"):
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.in_proj_bias)

    # ------------------------------------------------------------------ condition
    def encode_condition(self, obs: torch.Tensor, timesteps: torch.Tensor,
                         time_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder memory for every (row, step): ``obs`` [B, To, Do], ``timesteps`` [K] -> [B, K, 1+To, d].

        The encoder is token-wise, so the observation tokens are encoded once per row and the time
        tokens once per step; the memory of (b, k) is their concatenation. This is exactly what
        encoding each (b, k) pair separately gives, at (B*To + K) instead of B*K*(1+To) tokens.
        A frozen model's time tokens depend on the sampler only: pass them (``encode_time_tokens``)
        to encode just the observations.
        """
        obs_tokens = self._encode_obs_tokens(obs)  # [B, To, d]
        if time_tokens is None:
            time_tokens = self.encode_time_tokens(timesteps)  # [K, d]
        batch, steps = obs.shape[0], timesteps.shape[0]
        return torch.cat(
            (
                time_tokens[None, :, None, :].expand(batch, steps, 1, -1),
                obs_tokens[:, None].expand(batch, steps, -1, -1),
            ),
            dim=2,
        )

    def encode_condition_per_row(self, obs: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Memory when every row has its own step (training): ``timesteps`` [B] -> [B, 1+To, d]."""
        return torch.cat((self.encode_time_tokens(timesteps)[:, None], self._encode_obs_tokens(obs)), dim=1)

    def _encode_obs_tokens(self, obs: torch.Tensor) -> torch.Tensor:
        tokens = self.cond_obs_emb(obs) + self.cond_pos_emb[:, 1:]
        return self.encoder(self.drop(tokens))

    def encode_time_tokens(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Encoded time tokens [K, d] of the given diffusion steps."""
        tokens = sinusoidal_embedding(timesteps, self.config.n_emb) + self.cond_pos_emb[0, 0]
        return self.encoder(self.drop(tokens))

    # ------------------------------------------------------------------ decoder, block by block
    # embed_actions and output run at every denoising step whatever the plan skips: they call the
    # functional ops directly, as the module calls' own overhead is a visible share of a sparse act()
    def embed_actions(self, sample: torch.Tensor) -> torch.Tensor:
        return dropout(self.drop, F.linear(sample, self.input_emb.weight, self.input_emb.bias) + self.pos_emb)

    def block_residual(self, block: int, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Residual branch of decoder block ``block`` (0 .. 3L-1): layer ``block // 3``, kind ``block % 3``."""
        layer = self.decoder.layers[block // BLOCKS_PER_LAYER]
        return layer.residual(BlockKind(block % BLOCKS_PER_LAYER), x, memory, self.mask, self.memory_mask)

    def output(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.ln_f
        x = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        return F.linear(x, self.head.weight, self.head.bias)

    # ------------------------------------------------------------------ dense forward
    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Dense ``eps`` prediction, the original signature: sample [B, Tp, Da], timestep [B] or scalar."""
        timestep = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])
        memory = self.encode_condition_per_row(cond[:, : self.config.n_obs_steps], timestep)
        x = self.embed_actions(sample)
        for layer in self.decoder.layers:
            x = layer(x, memory, self.mask, self.memory_mask)
        return self.output(x)


def widen_observation(state: dict[str, torch.Tensor], obs_dim: int) -> dict[str, torch.Tensor]:
    """``state`` for a model that observes ``obs_dim`` features, the state's own ones first.

    The appended input columns start at zero, so the widened model predicts exactly what the old one
    did until training finds a use for the new features: a fine-tune can add observations (e.g. the
    end-effector position) without giving up what the old policy learned.
    """
    weight = state["cond_obs_emb.weight"]
    extra = obs_dim - weight.shape[1]
    if extra < 0:
        raise ValueError(f"cannot narrow the observation input from {weight.shape[1]} to {obs_dim} features")
    widened = dict(state)
    widened["cond_obs_emb.weight"] = torch.cat([weight, weight.new_zeros(weight.shape[0], extra)], dim=1)
    return widened
