"""Common behaviour of the scripted experts: Gaussian action noise and clipping.

Experts are closed loop (they re-read the simulator every step), so the injected noise produces
diverse but still successful demonstrations: the next step corrects what the noise disturbed.

White noise (``noise_steps=0``) is corrected within a step or two, so the states it visits stay
close to the expert's own path. Correlated noise (an Ornstein-Uhlenbeck process whose correlation
time is ``noise_steps``) pushes the arm centimetres off that path for a while, which is where a
cloned policy drifts to; recorded with the expert's clean action as the label (DART, Laskey et al.
2017), such demonstrations teach the way back. ``clean_action`` holds that label after each ``act``.
"""
from __future__ import annotations

import math
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
        noise_steps: correlation time of the noise in env steps; 0 draws it independently each step.
    """

    def __init__(
        self, env, noise: float = 0.0, rng: Optional[np.random.Generator] = None, noise_steps: float = 0.0
    ):
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        if noise_steps < 0:
            raise ValueError(f"noise_steps must be >= 0 (0 = white noise), got {noise_steps}")
        self.env = env.unwrapped
        self.noise = float(noise)
        self.noise_steps = float(noise_steps)
        self.rng = rng if rng is not None else np.random.default_rng()
        self._noise_state: Optional[np.ndarray] = None
        self.clean_action: Optional[np.ndarray] = None

    def reset(self) -> None:
        """Call after every ``env.reset``: forgets the previous episode's progress and noise."""
        self._noise_state = None
        self.clean_action = None
        self._reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The action to execute: the expert's action plus noise, clipped to the action bounds."""
        action = np.asarray(self._clean_action(obs), dtype=np.float64)
        self.clean_action = self._to_env_action(np.clip(action, ACTION_LOW, ACTION_HIGH))
        if self.noise > 0:
            action = action + self._next_noise(action.shape)
        return self._to_env_action(np.clip(action, ACTION_LOW, ACTION_HIGH))

    def _to_env_action(self, action: np.ndarray) -> np.ndarray:
        """The expert's action (and its noise) in the env's action space; subclasses whose env offers
        another action mode than the one they control in convert here."""
        return action.astype(np.float32)

    def _next_noise(self, shape: tuple[int, ...]) -> np.ndarray:
        """Stationary Ornstein-Uhlenbeck step: std ``noise`` at every step, correlation exp(-1/noise_steps)."""
        fresh = self.rng.normal(0.0, self.noise, size=shape)
        if self.noise_steps == 0 or self._noise_state is None:
            self._noise_state = fresh
        else:
            keep = math.exp(-1.0 / self.noise_steps)
            self._noise_state = keep * self._noise_state + math.sqrt(1.0 - keep**2) * fresh
        return self._noise_state

    @property
    def stage(self) -> str:
        """Name of the current phase, for debugging and failure reports."""
        return getattr(self, "_stage_name", "")

    def _reset(self) -> None:
        raise NotImplementedError

    def _clean_action(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError
