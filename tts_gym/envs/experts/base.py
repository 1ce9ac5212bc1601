"""Common behaviour of the scripted experts: Gaussian action noise and clipping.

Experts are closed loop (they re-read the simulator every step), so the injected noise produces
diverse but still successful demonstrations: the next step corrects what the noise disturbed.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

ACTION_LOW = -1.0
ACTION_HIGH = 1.0


class ScriptedExpert:
    """Base class: subclasses implement :meth:`_reset` and :meth:`_clean_action`.

    Args:
        env: the environment (any wrapper level; the expert reads ``env.unwrapped``).
        noise: standard deviation of the Gaussian noise added to every action (in action units).
        rng: generator for the noise (``np.random.default_rng(seed)`` gives reproducible demos).
    """

    def __init__(self, env, noise: float = 0.0, rng: Optional[np.random.Generator] = None):
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.env = env.unwrapped
        self.noise = float(noise)
        self.rng = rng if rng is not None else np.random.default_rng()

    def reset(self) -> None:
        """Call after every ``env.reset``: forgets the previous episode's progress."""
        self._reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        action = np.asarray(self._clean_action(obs), dtype=np.float64)
        if self.noise > 0:
            action = action + self.rng.normal(0.0, self.noise, size=action.shape)
        return np.clip(action, ACTION_LOW, ACTION_HIGH).astype(np.float32)

    @property
    def stage(self) -> str:
        """Name of the current phase, for debugging and failure reports."""
        return getattr(self, "_stage_name", "")

    def _reset(self) -> None:
        raise NotImplementedError

    def _clean_action(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError
