"""``TestTimeSparsity``: an env that acts by itself with a sparse diffusion policy.

``reset()`` starts a new rollout for the env *and* the policy (history, action queue, rollout
cache); ``step()`` without an action lets the policy act on the latest observation. ``info["tts"]``
says what the policy did for this step.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def inference_info(policy, inferred: bool) -> dict[str, Any]:
    record = policy.last_inference
    info: dict[str, Any] = {"inferred": inferred}
    if record is not None:
        info.update(sparsity=record.sparsity, latency_ms=dict(record.latency_ms))
        if inferred:
            info["plan"] = record.plan
    return info


class TestTimeSparsity(gym.Wrapper):
    """Owns a ``SparseDiffusionPolicy``; ``step(None)`` (or ``step()``) acts with test-time pruning."""

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, env: gym.Env, policy) -> None:
        super().__init__(env)
        self.policy = policy
        self._obs = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.policy.reset(seed=seed)  # a seeded env gets seeded policy noise: rollouts replay exactly
        self._obs = obs
        info["tts"] = {"inferred": False}
        return obs, info

    def step(self, action=None):
        if self._obs is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        inferred = action is None
        if inferred:
            action = self.policy.act(self._obs)
            inferred = self.policy.last_act_inferred
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs = obs
        info["tts"] = inference_info(self.policy, inferred)
        return obs, reward, terminated, truncated, info


class TestTimeSparsityVector(gym.vector.VectorWrapper):
    """Vector-env version: one batched ``act()``; an env that auto-resets resets only its own state.

    Gymnasium's default autoreset ("next step") resets an env on the step after it ended, ignoring
    that step's action; its policy state is reset then, so the reset observation starts a rollout.
    """

    __test__ = False

    def __init__(self, env: gym.vector.VectorEnv, policy) -> None:
        super().__init__(env)
        self.policy = policy
        self._obs = None
        self._ended = np.zeros(env.num_envs, bool)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.policy.start(self.num_envs, seed=seed)
        self._obs, self._ended[:] = obs, False
        return obs, info

    def step(self, actions=None):
        if self._obs is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        inferred = actions is None
        if inferred:
            actions = self.policy.act(self._obs)
            inferred = self.policy.last_act_inferred
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        restarted = np.flatnonzero(self._ended)  # these envs just returned a reset observation
        if len(restarted):
            self.policy.reset(restarted)
        self._ended = np.logical_or(terminated, truncated)
        self._obs = obs
        info["tts"] = inference_info(self.policy, inferred)
        info["tts"]["restarted"] = restarted
        return obs, rewards, terminated, truncated, info
