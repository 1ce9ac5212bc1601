"""Gymnasium environments of the project: robosuite Lift / Can / Square and Franka Kitchen.

Importing this package (``import tts_gym`` does) registers ``tts_gym/Lift-v0``, ``tts_gym/Can-v0``,
``tts_gym/Square-v0``, ``tts_gym/Kitchen-v0`` and its variants (lazily: no simulator is imported
here) and, on machines without a display, selects MuJoCo's EGL backend so that
``render_mode="rgb_array"`` works headless.
"""
from tts_gym.envs.headless import ensure_headless_gl

ensure_headless_gl()

from tts_gym.envs.registration import (  # noqa: E402  (must follow the GL backend choice)
    CAN_ID,
    KITCHEN_ID,
    KITCHEN_MAX_EPISODE_STEPS,
    LIFT_ID,
    ROBOSUITE_MAX_EPISODE_STEPS,
    SHORT_NAMES,
    SQUARE_ID,
    make_env,
    observation_extends,
    register_envs,
    resolve_env_id,
)

register_envs()

__all__ = [
    "CAN_ID",
    "KITCHEN_ID",
    "KITCHEN_MAX_EPISODE_STEPS",
    "LIFT_ID",
    "ROBOSUITE_MAX_EPISODE_STEPS",
    "SHORT_NAMES",
    "SQUARE_ID",
    "make_env",
    "observation_extends",
    "register_envs",
    "resolve_env_id",
]
