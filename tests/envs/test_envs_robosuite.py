"""robosuite wrappers: API conformance, observation layout, seeding, rendering, experts."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tts_gym.envs  # noqa: F401  (registers the ids)

LAYOUT = {
    "tts_gym/Lift-v0": 10,
    "tts_gym/Can-v0": 14,
    "tts_gym/Square-v0": 14,
}


def _expected_keys(object_size):
    return (("object", object_size), ("robot0_eef_pos", 3), ("robot0_eef_quat", 4), ("robot0_gripper_qpos", 2))


@pytest.fixture(scope="module")
def lift():
    env = gym.make("tts_gym/Lift-v0")
    yield env
    env.close()


def test_lift_check_env_and_layout(lift):
    check_env(lift.unwrapped, skip_render_check=True)
    assert lift.unwrapped.obs_keys == _expected_keys(10)
    obs, info = lift.reset(seed=0)
    assert obs.shape == (19,) and obs.dtype == np.float32 and info == {"success": False}
    assert lift.action_space.shape == (7,)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["tts_gym/Can-v0", "tts_gym/Square-v0"])
def test_can_square_check_env_and_layout(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.obs_keys == _expected_keys(LAYOUT[env_id])
    env.close()


def test_flatten_observation_order(lift):
    unwrapped = lift.unwrapped
    raw = {"object-state": np.zeros(10), "robot0_eef_pos": np.ones(3), "robot0_eef_quat": np.full(4, 2.0),
           "robot0_gripper_qpos": np.full(2, 3.0), "robot0_joint_pos": np.full(7, 9.0)}
    flat = unwrapped.flatten_observation(raw)
    np.testing.assert_array_equal(flat, [0] * 10 + [1] * 3 + [2] * 4 + [3] * 2)


def test_lift_seeding(lift):
    def rollout(seed):
        obs, _ = lift.reset(seed=seed)
        rng = np.random.default_rng(0)
        trajectory = [obs]
        for _ in range(3):
            trajectory.append(lift.step(rng.uniform(-1, 1, 7).astype(np.float32))[0])
        return np.stack(trajectory)

    np.testing.assert_allclose(rollout(5), rollout(5), atol=1e-6)
    assert np.abs(rollout(5)[0, :3] - rollout(6)[0, :3]).max() > 1e-3  # cube placement differs


def test_lift_truncates_at_horizon():
    env = gym.make("tts_gym/Lift-v0", max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step(np.zeros(7, np.float32)) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    env.close()


def test_lift_render_upright():
    env = gym.make("tts_gym/Lift-v0", render_mode="rgb_array", width=64, height=64)
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    # agentview looks down at the table: the top rows (far wall / background) differ from the bottom (table)
    assert not np.allclose(image[:8].mean(), image[-8:].mean())
    env.close()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lift_expert(lift, seed):
    from tts_gym.envs.experts import make_expert

    obs, _ = lift.reset(seed=seed)
    expert = make_expert(lift, noise=0.1, rng=np.random.default_rng(seed))
    expert.reset()
    for _ in range(400):
        obs, _, terminated, truncated, info = lift.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["success"]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["tts_gym/Can-v0", "tts_gym/Square-v0"])
def test_can_square_experts(env_id):
    from tts_gym.envs.experts import make_expert

    env = gym.make(env_id)
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        expert = make_expert(env, noise=0.1, rng=np.random.default_rng(seed))
        expert.reset()
        for _ in range(400):
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        assert info["success"], (env_id, seed, expert.stage)
    env.close()


@pytest.mark.slow
def test_square_grasp_observation_extends_square_with_what_the_expert_servoes_on():
    from tts_gym.envs.experts import make_expert
    from tts_gym.envs.geometry import wrap_angle
    from tts_gym.envs.square_features import FEATURE_KEYS

    plain, grasp = gym.make("tts_gym/Square-v0"), gym.make("tts_gym/SquareGrasp-v0")
    check_env(grasp.unwrapped, skip_render_check=True)
    assert grasp.unwrapped.obs_keys == _expected_keys(14) + FEATURE_KEYS
    geometry = grasp.unwrapped.square_geometry
    obs, _ = grasp.reset(seed=4)
    np.testing.assert_allclose(obs[:23], plain.reset(seed=4)[0], atol=1e-6)  # the same episode, a prefix
    expert = make_expert(grasp, noise=0.0)
    expert.reset()
    initial_error = abs(geometry.grasp_yaw_error())
    for _ in range(30):  # the expert turns the gripper towards the handle while it approaches
        obs, *_ = grasp.step(expert.act(obs))
        handle_to_eef, grasp_yaw, insertion_yaw = np.split(obs[23:], [3, 5])
        np.testing.assert_allclose(handle_to_eef, geometry.handle() - geometry.eef(), atol=1e-5)
        angle = np.arctan2(grasp_yaw[1], grasp_yaw[0]) / 2
        assert abs(wrap_angle(angle - geometry.grasp_yaw_error(), np.pi)) < 1e-4
        np.testing.assert_allclose([np.hypot(*grasp_yaw), np.hypot(*insertion_yaw)], 1.0, atol=1e-5)
    assert abs(geometry.grasp_yaw_error()) < min(0.5 * initial_error, 0.1)
    with pytest.raises(ValueError, match="describes NutAssemblySquare"):
        gym.make("tts_gym/Lift-v0", observation="square_grasp")
    plain.close(), grasp.close()
