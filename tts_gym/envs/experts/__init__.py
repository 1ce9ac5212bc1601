"""Scripted experts, one per task, behind a single factory.

``make_expert(env, noise, rng, noise_steps)`` picks the expert for ``env.unwrapped``; every expert has
``reset()`` (call after each ``env.reset``), ``act(obs) -> np.ndarray`` and, after each ``act``, the
noise-free ``clean_action``. Experts read the simulator state of
``env.unwrapped`` (they are privileged, closed-loop controllers used only to generate demonstrations).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from tts_gym.envs.experts.base import ScriptedExpert


def make_expert(
    env, noise: float = 0.0, rng: Optional[np.random.Generator] = None, noise_steps: float = 0.0
) -> ScriptedExpert:
    """The scripted expert for ``env`` (Kitchen, or robosuite Lift / PickPlaceCan / NutAssemblySquare)."""
    unwrapped = env.unwrapped
    task = getattr(unwrapped, "task", None)
    if type(unwrapped).__name__ == "KitchenEnv":
        from tts_gym.envs.experts.kitchen import KitchenExpert

        return KitchenExpert(env, noise=noise, rng=rng, noise_steps=noise_steps)
    if task is not None:
        from tts_gym.envs.experts import robosuite_experts

        return robosuite_experts.make_robosuite_expert(env, noise=noise, rng=rng, noise_steps=noise_steps)
    raise ValueError(f"no scripted expert for environment {type(unwrapped).__name__}")


__all__ = ["ScriptedExpert", "make_expert"]
