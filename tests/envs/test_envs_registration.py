"""Registration is lazy and complete."""
from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

import tts_gym.envs
from tts_gym.envs import KITCHEN_MAX_EPISODE_STEPS, ROBOSUITE_MAX_EPISODE_STEPS, resolve_env_id

IDS = ("tts_gym/Lift-v0", "tts_gym/Can-v0", "tts_gym/Square-v0", "tts_gym/SquareGrasp-v0",
       "tts_gym/Kitchen-v0", "tts_gym/KitchenPositions-v0",
       "tts_gym/KitchenEE-v0", "tts_gym/KitchenEEPosition-v0")
HEAVY_MODULES = ("torch", "diffusers", "robosuite", "mujoco", "gymnasium_robotics")


def run_fresh(code: str, *options: str) -> None:
    """Run ``code`` in a new interpreter (nothing imported or registered yet); fail with its output."""
    completed = subprocess.run([sys.executable, *options, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_ids_registered_with_horizons():
    for env_id in IDS:
        spec = gym.spec(env_id)
        assert isinstance(spec.entry_point, str)
        expected = KITCHEN_MAX_EPISODE_STEPS if "Kitchen" in env_id else ROBOSUITE_MAX_EPISODE_STEPS
        assert spec.max_episode_steps == expected


def test_every_project_id_is_listed():
    assert {env_id for env_id, spec in gym.registry.items() if spec.namespace == "tts_gym"} == set(IDS)


@pytest.mark.parametrize("module", ["tts_gym", "tts_gym.envs"])
def test_import_registers_every_id_without_heavy_imports(module):
    run_fresh(
        f"import sys, gymnasium as gym, {module}\n"
        f"missing = [i for i in {IDS!r} if i not in gym.registry]\n"
        f"loaded = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "sys.exit(f'not registered: {missing}; imported: {loaded}' if missing or loaded else 0)"
    )


@pytest.mark.parametrize("order", [("tts_gym", "tts_gym.envs"), ("tts_gym.envs", "tts_gym")])
def test_registering_twice_warns_nothing(order):
    first, second = order
    run_fresh(f"import {first}\nimport {second}\nimport tts_gym.envs as envs\nenvs.register_envs()", "-W", "error")


def test_make_with_module_prefix_needs_no_import():
    run_fresh("import gymnasium as gym\ngym.make('tts_gym:tts_gym/Kitchen-v0').close()")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_new_user_snippet_makes_every_id(env_id):
    run_fresh(
        "import gymnasium as gym\n"
        "import tts_gym\n"
        "from tts_gym import SparseDiffusionPolicy\n"
        f"env = gym.make({env_id!r})\n"
        "env.close()"
    )


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
