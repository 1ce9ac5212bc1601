"""collect -> read round trip on Lift (the fastest simulator), CLI wiring, failure accounting."""
from __future__ import annotations

import argparse
import json

import h5py
import numpy as np
import pytest

from tts_gym.data import WindowDataset, load_episodes
from tts_gym.data import collect as collect_module


def test_collect_round_trip(tmp_path):
    out = tmp_path / "lift.hdf5"
    result = collect_module.collect("lift", episodes=2, noise=0.1, out=str(out), seed_start=5, progress=False)
    assert result.num_episodes == 2 and result.seeds == [5, 6] and result.num_failed == 0

    episodes = load_episodes(out)
    assert [ep.seed for ep in episodes] == [5, 6]
    assert episodes[0].obs.shape[1] == 19 and episodes[0].actions.shape[1] == 7
    with h5py.File(out, "r") as f:
        env_args = json.loads(f["data"].attrs["env_args"])
        assert env_args["env_id"] == "tts_gym/Lift-v0" and env_args["env_name"] == "Lift"
        assert env_args["seeds"] == [5, 6] and env_args["expert"] == {"noise": 0.1, "noise_steps": 0.0, "labels": "executed",
                                                                     "tail_steps": 0}
        assert "states" in f["data/demo_0"] and f["data/demo_0/rewards"][-1] == 1
        assert f["data"].attrs["total"] == result.num_samples

    dataset = WindowDataset(episodes, n_obs_steps=2, horizon=10, n_action_steps=8)
    assert dataset[0]["obs"].shape == (2, 19) and dataset[0]["action"].shape == (10, 7)

    # the recorded seed reproduces the stored observations
    import gymnasium as gym

    env = gym.make("tts_gym/Lift-v0")
    obs, _ = env.reset(seed=5)
    np.testing.assert_allclose(obs, episodes[0].obs[0], atol=1e-6)
    env.close()


def test_tail_steps_record_the_expert_past_success():
    """Without a tail the demo ends at success; with one the same episode goes on, so its last
    training windows hold the expert's continuation instead of edge padding."""
    import gymnasium as gym

    from tts_gym.data.collect import run_episode
    from tts_gym.envs.experts import make_expert

    episodes = {}
    for tail in (0, 5):
        env = gym.make("tts_gym/Lift-v0", terminate_on_success=tail == 0)
        expert = make_expert(env, noise=0.1, rng=np.random.default_rng(0))
        episodes[tail] = run_episode(env, expert, seed=0, tail_steps=tail)
        env.close()
    short, long = episodes[0], episodes[5]
    assert short["success"] and long["success"]
    assert len(long["actions"]) == len(short["actions"]) + 5
    np.testing.assert_array_equal(long["obs"][: len(short["obs"])], short["obs"])
    assert short["dones"][-1] and not short["dones"][:-1].any() and long["dones"][-6:].all()
    with pytest.raises(ValueError, match="tail_steps must be >= 0"):
        collect_module.collect("lift", episodes=1, noise=0.1, out="unused.hdf5", tail_steps=-1)


def test_clean_labels_store_the_expert_action_before_noise(tmp_path):
    from tts_gym.data.collect import run_episode
    from tts_gym.envs.experts import make_expert
    import gymnasium as gym

    env = gym.make("tts_gym/Lift-v0", max_episode_steps=6)
    recorded = {}
    for labels in ("executed", "clean"):
        expert = make_expert(env, noise=0.3, rng=np.random.default_rng(0), noise_steps=4)
        recorded[labels] = run_episode(env, expert, seed=0, labels=labels)
    env.close()
    # same seed, same executed trajectory; only what is stored as the action differs
    np.testing.assert_array_equal(recorded["executed"]["obs"], recorded["clean"]["obs"])
    noise = recorded["executed"]["actions"] - recorded["clean"]["actions"]
    assert np.abs(noise).max() > 0.05
    with pytest.raises(ValueError, match="labels must be one of"):
        collect_module.collect("lift", episodes=1, noise=0.1, out=str(tmp_path / "x.hdf5"), labels="noisy")


def test_failed_episodes_are_dropped_and_counted(tmp_path, monkeypatch):
    class IdleExpert:
        def reset(self):
            pass

        def act(self, obs):
            return np.zeros(7, np.float32)

    monkeypatch.setattr("tts_gym.envs.experts.make_expert", lambda env, **noise_args: IdleExpert())
    out = tmp_path / "none.hdf5"
    result = collect_module.collect(
        "lift", episodes=1, noise=0.0, out=str(out), max_attempts=1, progress=False, env_kwargs={"max_episode_steps": 3}
    )
    assert result.num_episodes == 0 and result.num_failed == 1 and result.failed_seeds == [0]


def test_cli_arguments():
    parser = argparse.ArgumentParser()
    collect_module.add_arguments(parser)
    args = parser.parse_args(["--env", "kitchen", "--episodes", "3", "--noise", "0.2", "--out", "x.hdf5", "--seed-start", "7"])
    assert (args.env, args.episodes, args.noise, args.out, args.seed_start) == ("kitchen", 3, 0.2, "x.hdf5", 7)
    assert (args.noise_steps, args.labels, args.tail_steps) == (0.0, "executed", 0)
    assert parser.parse_args(["--env", "kitchen-ee-position", "--episodes", "1", "--out", "x.hdf5",
                              "--tail-steps", "16"]).tail_steps == 16
    args = parser.parse_args(["--env", "lift", "--episodes", "1", "--out", "x.hdf5", "--noise-steps", "5", "--labels", "clean"])
    assert (args.noise_steps, args.labels) == (5.0, "clean")
    assert (args.driver, args.driver_share, args.max_episode_steps) == (None, collect_module.DEFAULT_DRIVER_SHARE, None)
    args = parser.parse_args(["--env", "kitchen", "--episodes", "1", "--out", "x.hdf5", "--labels", "clean",
                              "--driver", "kitchen", "--driver-share", "0.3", "--driver-sampler", "ddim",
                              "--driver-steps", "16", "--max-episode-steps", "400",
                              "--driver-stages", "light_approach", "light_align"])
    assert (args.driver, args.driver_share, args.driver_sampler, args.driver_steps, args.max_episode_steps) == (
        "kitchen", 0.3, "ddim", 16, 400)
    assert args.driver_stages == ["light_approach", "light_align"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--env", "hammer", "--episodes", "1", "--out", "x.hdf5"])


def _lift_sized_policy(seed=0):
    """A random tiny policy with Lift's observation and action sizes (its actions are off the expert's)."""
    from helpers import tiny_backbone, randomize
    from tts_gym import DiffusionTransformer, PolicyConfig, SamplerConfig, SparseDiffusionPolicy
    from tts_gym.data.normalizer import Normalizer

    config = PolicyConfig(tiny_backbone(obs_dim=19, action_dim=7), SamplerConfig("ddim", 4), n_action_steps=4)
    rng = np.random.default_rng(seed)
    normalizer = Normalizer.fit(obs=rng.normal(size=(64, 19)), action=rng.uniform(-1, 1, size=(64, 7)))
    return SparseDiffusionPolicy(randomize(DiffusionTransformer(config.backbone), seed), normalizer, config, seed=seed)


def test_dagger_driver_executes_policy_chunks_and_stores_the_expert_labels():
    from tts_gym.data.collect import run_episode
    from tts_gym.data.driver import PolicyDriver
    from tts_gym.envs import make_env
    from tts_gym.envs.experts import make_expert

    env = make_env("lift", max_episode_steps=12)
    policy = _lift_sized_policy()

    def episode(share, labels="clean"):
        expert = make_expert(env, noise=0.0, rng=np.random.default_rng(0))
        driver = PolicyDriver(policy, share) if share is not None else None
        return run_episode(env, expert, seed=3, labels=labels, driver=driver), driver

    alone, _ = episode(None)
    unused, driver = episode(0.0)
    np.testing.assert_array_equal(unused["obs"], alone["obs"])  # share 0: the expert's own episode
    assert driver.policy_steps == 0

    driven, driver = episode(1.0)
    assert driver.policy_steps == len(driven["actions"]) == 12
    # the states are the policy's: the same as a rollout of the policy alone...
    policy.reset(seed=3)
    obs, _ = env.reset(seed=3)
    seen, executed = [], []
    for _ in range(12):
        seen.append(obs)
        executed.append(policy.act(obs))
        obs, *_ = env.step(executed[-1])
    assert not np.allclose(driven["obs"], alone["obs"])
    np.testing.assert_allclose(driven["obs"], np.asarray(seen), atol=1e-5)
    # ...and the labels the expert's, not what was executed
    assert np.abs(driven["actions"] - np.asarray(executed)).max() > 0.1

    mixed, driver = episode(0.5)
    assert 0 < driver.policy_steps < 12 and driver.policy_steps % policy.config.n_action_steps == 0

    # with stages, the policy drives only while the expert is in one of them
    expert = make_expert(env, noise=0.0, rng=np.random.default_rng(0))
    elsewhere = PolicyDriver(policy, 1.0, stages=["no_such_stage"])
    np.testing.assert_array_equal(run_episode(env, expert, 3, "clean", elsewhere)["obs"], alone["obs"])
    assert elsewhere.policy_steps == 0
    expert = make_expert(env, noise=0.0, rng=np.random.default_rng(0))
    first_stage = PolicyDriver(policy, 1.0, stages=["above_cube"])
    run_episode(env, expert, 3, "clean", first_stage)
    assert first_stage.policy_steps > 0

    with pytest.raises(ValueError, match="labels must be 'clean'"):
        episode(0.5, labels="executed")
    with pytest.raises(ValueError, match=r"driver share must be a probability in \[0, 1\]"):
        PolicyDriver(policy, 1.5)
    env.close()


def test_driver_trained_on_another_env_is_refused_before_the_file_is_written(tmp_path):
    from dataclasses import replace

    policy = _lift_sized_policy()
    policy.config = replace(policy.config, env_id="tts_gym/Can-v0")
    path = tmp_path / "can_policy.pt"
    policy.save(path)
    out = tmp_path / "lift.hdf5"
    with pytest.raises(ValueError, match="trained on tts_gym/Can-v0, not tts_gym/Lift-v0"):
        collect_module.collect("lift", episodes=1, noise=0.0, out=str(out), labels="clean", driver=str(path), progress=False)
    assert not out.exists()


def test_max_episode_steps_reaches_the_envs_own_horizon():
    from tts_gym.envs import ROBOSUITE_MAX_EPISODE_STEPS, make_env

    longer = ROBOSUITE_MAX_EPISODE_STEPS + 50
    env = make_env("lift", max_episode_steps=longer)
    assert env.unwrapped.max_episode_steps == env.spec.max_episode_steps == longer
    env.close()
    env = make_env("tts_gym/Lift-v0")
    assert env.unwrapped.max_episode_steps == env.spec.max_episode_steps == ROBOSUITE_MAX_EPISODE_STEPS
    env.close()
