"""Gymnasium ids of the project's environments, registered with lazy string entry points.

Entry points are strings so that ``import tts_gym`` (which registers them) stays cheap: robosuite /
MuJoCo / gymnasium-robotics are imported only when an env is actually made.
"""
from __future__ import annotations

from dataclasses import replace

import gymnasium as gym

ROBOSUITE_MAX_EPISODE_STEPS = 400  # robomimic's horizon for Lift / Can / Square at 20 Hz
KITCHEN_MAX_EPISODE_STEPS = 280  # FrankaKitchen-v1 / D4RL kitchen horizon

LIFT_ID = "tts_gym/Lift-v0"
CAN_ID = "tts_gym/Can-v0"
SQUARE_ID = "tts_gym/Square-v0"
SQUARE_GRASP_ID = "tts_gym/SquareGrasp-v0"  # robomimic's observation and the grasp features (30-d)
KITCHEN_ID = "tts_gym/Kitchen-v0"  # FrankaKitchen-v1's full 59-d observation and joint velocities
KITCHEN_POSITIONS_ID = "tts_gym/KitchenPositions-v0"  # joint positions only (30-d, D4RL's layout)
KITCHEN_EE_ID = "tts_gym/KitchenEE-v0"  # the 59-d vector and the end-effector position (62-d)
KITCHEN_EE_POSITION_ID = "tts_gym/KitchenEEPosition-v0"  # the same, acting with absolute arm joint targets

# Short names used on the command line (``tts-gym collect --env lift``).
SHORT_NAMES: dict[str, str] = {
    "lift": LIFT_ID, "can": CAN_ID, "square": SQUARE_ID, "square-grasp": SQUARE_GRASP_ID,
    "kitchen": KITCHEN_ID, "kitchen-positions": KITCHEN_POSITIONS_ID,
    "kitchen-ee": KITCHEN_EE_ID, "kitchen-ee-position": KITCHEN_EE_POSITION_ID,
}

# Observation layouts that begin with another env's whole observation: a policy of the second can be
# widened into one of the first (``tts-gym train --init``).
OBSERVATION_PREFIXES: dict[str, str] = {
    KITCHEN_EE_ID: KITCHEN_ID, KITCHEN_EE_POSITION_ID: KITCHEN_ID, SQUARE_GRASP_ID: SQUARE_ID,
}

_ROBOSUITE_ENTRY_POINT = "tts_gym.envs.robosuite_env:RobosuiteEnv"
_KITCHEN_ENTRY_POINT = "tts_gym.envs.kitchen_env:KitchenEnv"

_SPECS: dict[str, tuple[str, dict, int]] = {
    LIFT_ID: (_ROBOSUITE_ENTRY_POINT, {"task": "Lift"}, ROBOSUITE_MAX_EPISODE_STEPS),
    CAN_ID: (_ROBOSUITE_ENTRY_POINT, {"task": "PickPlaceCan"}, ROBOSUITE_MAX_EPISODE_STEPS),
    SQUARE_ID: (_ROBOSUITE_ENTRY_POINT, {"task": "NutAssemblySquare"}, ROBOSUITE_MAX_EPISODE_STEPS),
    SQUARE_GRASP_ID: (
        _ROBOSUITE_ENTRY_POINT, {"task": "NutAssemblySquare", "observation": "square_grasp"},
        ROBOSUITE_MAX_EPISODE_STEPS,
    ),
    KITCHEN_ID: (_KITCHEN_ENTRY_POINT, {}, KITCHEN_MAX_EPISODE_STEPS),
    KITCHEN_POSITIONS_ID: (_KITCHEN_ENTRY_POINT, {"observation": "positions"}, KITCHEN_MAX_EPISODE_STEPS),
    KITCHEN_EE_ID: (_KITCHEN_ENTRY_POINT, {"observation": "full+ee"}, KITCHEN_MAX_EPISODE_STEPS),
    KITCHEN_EE_POSITION_ID: (
        _KITCHEN_ENTRY_POINT, {"observation": "full+ee", "action": "joint_position"}, KITCHEN_MAX_EPISODE_STEPS
    ),
}


def resolve_env_id(name: str) -> str:
    """Map a short name (``kitchen``) or a full id (``tts_gym/Kitchen-v0``) to the full id."""
    if name in _SPECS:
        return name
    key = name.lower()
    if key in SHORT_NAMES:
        return SHORT_NAMES[key]
    raise ValueError(f"unknown environment {name!r}; choose one of {sorted(SHORT_NAMES)} or {sorted(_SPECS)}")


def registered_id(name: str) -> str:
    """The id ``name`` stands for: any id in Gymnasium's registry as it is, else a project short name or id."""
    return name if name in gym.registry else resolve_env_id(name)


def observation_extends(env_id: str | None, base_id: str | None) -> bool:
    """Whether ``env_id``'s observation begins with ``base_id``'s (true of an env and itself)."""
    return env_id == base_id or (env_id is not None and OBSERVATION_PREFIXES.get(env_id) == base_id)


def make_env(name: str, max_episode_steps: int | None = None, **kwargs) -> gym.Env:
    """``gym.make`` by short name or id, with ``max_episode_steps`` reaching the env's own horizon.

    The project envs truncate at their built-in horizon (robomimic's and D4RL's); ``gym.make``'s
    ``max_episode_steps`` only adds a TimeLimit, which cannot lengthen an episode beyond it.
    """
    env_id = registered_id(name)
    if max_episode_steps is None or env_id not in _SPECS:
        return gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs)
    spec = gym.spec(env_id)
    spec = replace(spec, kwargs={**spec.kwargs, "max_episode_steps": max_episode_steps},
                   max_episode_steps=max_episode_steps)
    return gym.make(spec, **kwargs)


def register_envs() -> None:
    """Register every id once; safe to call repeatedly."""
    for env_id, (entry_point, kwargs, max_steps) in _SPECS.items():
        if env_id in gym.registry:
            continue
        gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs), max_episode_steps=max_steps)
