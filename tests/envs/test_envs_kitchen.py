"""Franka Kitchen wrapper: API conformance, seeding, info keys, rendering, expert."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tts_gym.envs  # noqa: F401  (registers the ids)

KITCHEN = "tts_gym/Kitchen-v0"


@pytest.fixture(scope="module")
def kitchen():
    env = gym.make(KITCHEN)
    yield env
    env.close()


def test_check_env_and_layout(kitchen):
    check_env(kitchen.unwrapped, skip_render_check=True)
    assert kitchen.unwrapped.obs_keys == (("observation", 59),)
    obs, info = kitchen.reset(seed=0)
    assert obs.shape == (59,) and obs.dtype == np.float32
    assert info == {"success": False, "tasks_completed": [], "num_tasks_completed": 0, "num_tasks": 4}
    _, _, _, _, info = kitchen.step(np.zeros(9, np.float32))
    assert set(info) >= {"success", "tasks_completed", "num_tasks_completed", "num_tasks"}


def test_seed_determines_episode_and_seeds_differ(kitchen):
    def rollout(seed):
        obs, _ = kitchen.reset(seed=seed)
        rng = np.random.default_rng(0)
        trajectory = [obs]
        for _ in range(5):
            trajectory.append(kitchen.step(rng.uniform(-1, 1, 9).astype(np.float32))[0])
        return np.stack(trajectory)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    first, second = rollout(3)[0], rollout(4)[0]
    assert np.abs(first[:7] - second[:7]).max() > 0.01  # arm joints perturbed per seed


def test_perturbation_can_be_disabled():
    env = gym.make(KITCHEN, perturb_init=False)
    a, _ = env.reset(seed=1)
    b, _ = env.reset(seed=2)
    assert np.abs(a[:7] - b[:7]).max() < 0.01  # only the 1% observation noise differs
    env.close()


def test_flatten_observation_matches(kitchen):
    raw = {"observation": np.arange(59, dtype=np.float64), "achieved_goal": {}, "desired_goal": {}}
    flat = kitchen.unwrapped.flatten_observation(raw)
    assert flat.dtype == np.float32 and flat.shape == (59,)


def test_positions_observation_is_the_joint_positions():
    env = gym.make("tts_gym/KitchenPositions-v0")
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.obs_keys == (("observation", 30),)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(np.full(9, 0.5, np.float32))  # moving: the velocities are far from zero
    qpos = env.unwrapped.data.qpos
    assert obs.shape == (30,) and obs.dtype == np.float32
    np.testing.assert_allclose(obs, qpos[:30], atol=0.01)  # up to FrankaKitchen's observation noise
    env.close()
    with pytest.raises(ValueError, match="observation must be one of"):
        gym.make(KITCHEN, observation="pixels")


def test_end_effector_observation_extends_the_full_one():
    env, full = gym.make("tts_gym/KitchenEE-v0"), gym.make(KITCHEN)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.obs_keys == (("observation", 62),)
    action = np.full(9, 0.5, np.float32)
    for obs, prefix in zip(env.reset(seed=0)[:1] + env.step(action)[:1], full.reset(seed=0)[:1] + full.step(action)[:1]):
        np.testing.assert_array_equal(obs[:59], prefix)  # the same episode: a 59-d policy can be widened
    site = env.unwrapped.model.site("end_effector").id
    np.testing.assert_allclose(obs[59:], env.unwrapped.data.site_xpos[site], atol=1e-6)
    assert 1.5 < obs[61] < 2.5  # the gripper's height above the kitchen floor, in metres
    env.close()
    full.close()


def test_joint_position_actions_replay_the_velocity_episode():
    """The expert through the position mode takes the very steps it takes in velocity mode, its
    targets lie one step ahead of the arm, and a still target holds the arm against gravity."""
    from tts_gym.envs.experts import make_expert

    velocity, position = gym.make("tts_gym/KitchenEE-v0"), gym.make("tts_gym/KitchenEEPosition-v0")
    check_env(position.unwrapped, skip_render_check=True)
    low, high = position.action_space.low, position.action_space.high
    assert (low[:7] < 0).any() and (high[:7] > 1).any() and (low[7:] == -1).all() and (high[7:] == 1).all()
    obs = [env.reset(seed=3)[0] for env in (velocity, position)]
    experts = [make_expert(env, noise=0.1, rng=np.random.default_rng(3)) for env in (velocity, position)]
    for expert in experts:
        expert.reset()
    for _ in range(40):
        actions = [expert.act(o) for expert, o in zip(experts, obs)]
        arm = position.unwrapped.data.qpos[:7].copy()
        assert np.abs(actions[1][:7] - arm).max() < 0.1  # at most about one step's motion (dt 0.08 s)
        obs = [env.step(a)[0] for env, a in zip((velocity, position), actions)]
        np.testing.assert_allclose(obs[1], obs[0], atol=1e-4)
    position.reset(seed=0)
    arm = position.unwrapped.data.qpos[:7].copy()
    limits = position.unwrapped.model.jnt_range[:7]
    free = (arm > limits[:, 0] + 0.01) & (arm < limits[:, 1] - 0.01)  # joint 2 starts pressed to its limit
    for _ in range(20):  # a zero velocity action would let the arm sag by tenths of a radian
        position.step(np.concatenate([arm, [-1.0, -1.0]]).astype(np.float32))
    np.testing.assert_allclose(position.unwrapped.data.qpos[:7][free], arm[free], atol=0.002)
    with pytest.raises(ValueError, match="finite action of shape"):
        position.step(np.full(9, np.nan, np.float32))
    velocity.close()
    position.close()


def test_render_rgb_array():
    env = gym.make(KITCHEN, render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8 and image.std() > 0
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_expert_completes_all_four_tasks(kitchen, seed):
    from tts_gym.envs.experts import make_expert

    obs, _ = kitchen.reset(seed=seed)
    expert = make_expert(kitchen, noise=0.1, rng=np.random.default_rng(seed))
    expert.reset()
    for _ in range(280):
        obs, _, terminated, truncated, info = kitchen.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["success"] and info["num_tasks_completed"] == 4, info
    assert terminated
