"""Registration is lazy and complete."""
from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

import tts_gym.envs
from tts_gym.envs import KITCHEN_MAX_EPISODE_STEPS, ROBOSUITE_MAX_EPISODE_STEPS, resolve_env_id

IDS = ("tts_gym/Lift-v0", "tts_gym/Can-v0", "tts_gym/Square-v0", "tts_gym/Kitchen-v0", "tts_gym/KitchenPositions-v0",
       "tts_gym/KitchenEE-v0")


def test_ids_registered_with_horizons():
    for env_id in IDS:
        spec = gym.spec(env_id)
        assert isinstance(spec.entry_point, str)
        expected = KITCHEN_MAX_EPISODE_STEPS if "Kitchen" in env_id else ROBOSUITE_MAX_EPISODE_STEPS
        assert spec.max_episode_steps == expected


def test_import_does_not_load_simulators():
    code = (
        "import sys, tts_gym.envs; "
        "bad = [m for m in ('robosuite', 'mujoco', 'gymnasium_robotics') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_resolve_env_id():
    assert resolve_env_id("kitchen") == "tts_gym/Kitchen-v0"
    assert resolve_env_id("kitchen-positions") == "tts_gym/KitchenPositions-v0"
    assert resolve_env_id("kitchen-ee") == "tts_gym/KitchenEE-v0"
    assert resolve_env_id("tts_gym/Can-v0") == "tts_gym/Can-v0"
    with pytest.raises(ValueError, match="unknown environment"):
        resolve_env_id("hammer")
    tts_gym.envs.register_envs()  # idempotent


def test_observation_prefixes():
    from tts_gym.envs import observation_extends

    assert observation_extends("tts_gym/KitchenEE-v0", "tts_gym/Kitchen-v0")
    assert observation_extends("tts_gym/Kitchen-v0", "tts_gym/Kitchen-v0")
    assert not observation_extends("tts_gym/Kitchen-v0", "tts_gym/KitchenEE-v0")
    assert not observation_extends("tts_gym/Kitchen-v0", "tts_gym/KitchenPositions-v0")
