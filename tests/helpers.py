"""Tiny random-weight models so that the default test run takes seconds."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from tts_gym import BackboneConfig, DiffusionTransformer, PolicyConfig, SamplerConfig, SparseDiffusionPolicy
from tts_gym.data.normalizer import Normalizer

OBS_DIM, ACTION_DIM = 5, 3
FUZZ_TALLY: Counter = Counter()  # (category, outcome) -> cases; printed at the end of the test run
MEASURED: dict[str, str] = {}  # figures the tests measure (soak memory, determinism), printed at the end


def tiny_backbone(**overrides) -> BackboneConfig:
    settings = dict(action_dim=ACTION_DIM, obs_dim=OBS_DIM, horizon=6, n_obs_steps=2, n_layer=2, n_head=2,
                    n_emb=32, p_drop_attn=0.0)
    settings.update(overrides)
    return BackboneConfig(**settings)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """DP-T starts near identity (small init); larger random weights make every block matter."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model


def tiny_policy(sampler: SamplerConfig | None = None, planner=None, seed: int = 0, **backbone) -> SparseDiffusionPolicy:
    config = PolicyConfig(
        tiny_backbone(**backbone), sampler or SamplerConfig("ddim", 8), n_action_steps=4,
        obs_keys=(("object", 2), ("robot0_eef_pos", 3)),
    )
    model = randomize(DiffusionTransformer(config.backbone), seed)
    rng = np.random.default_rng(seed)
    normalizer = Normalizer.fit(obs=rng.normal(size=(64, OBS_DIM)), action=rng.uniform(-1, 1, size=(64, ACTION_DIM)))
    return SparseDiffusionPolicy(model, normalizer, config, planner, seed=seed)



import gymnasium as gym  # noqa: E402


class TinyEnv(gym.Env):
    """A cheap env with the tiny policy's observation size; episodes last ``length`` steps."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, length: int = 6, render_mode: str | None = None):
        self.observation_space = gym.spaces.Box(-1, 1, (OBS_DIM,), np.float32)
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (ACTION_DIM,), np.float32)
        self.length, self.render_mode = length, render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, OBS_DIM).astype(np.float32), {}

    def step(self, action):
        self.t += 1
        obs = self.np_random.uniform(-1, 1, OBS_DIM).astype(np.float32)
        reward = -float(np.abs(action).sum())
        return obs, reward, False, self.t >= self.length, {"success": self.t >= self.length}

    def render(self):
        return np.full((48, 64, 3), 30 * self.t % 255, np.uint8)


WORKER_ENV_ID = "tts_gym_tests/SignOfAction-v0"  # registered in Ray workers too (register_worker_envs)


class SignOfActionEnv(TinyEnv):
    """Succeeds when the first action dimension sums above zero over the episode: the outcome follows the
    policy's noise, so two runners agree on a seed only if they ran the same episode. With ``die_on_seed``
    the first reset on that seed kills the process, as a lost worker, leaving ``marker`` behind."""

    def __init__(self, length: int = 6, render_mode: str | None = None, die_on_seed: int | None = None,
                 marker: str | None = None):
        super().__init__(length, render_mode)
        self.die_on_seed, self.marker = die_on_seed, marker

    def reset(self, *, seed=None, options=None):
        if seed is not None and seed == self.die_on_seed and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        self.total = 0.0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        self.total += float(action[0])
        return obs, reward, terminated, truncated, {"success": truncated and self.total > 0}


def register_worker_envs() -> None:
    """Registers the test envs; Ray workers run it at start (``worker_process_setup_hook``)."""
    if WORKER_ENV_ID not in gym.registry:
        gym.register(WORKER_ENV_ID, entry_point=SignOfActionEnv)
