import pickle
from collections import OrderedDict
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from tts_gym import CheckpointError, ObservationError, SamplerConfig, SparseDiffusionPolicy
from tts_gym.sparsity import FixedPlanner, enforce_warmup
from tts_gym.evaluation.flops import count_inference_flops

from helpers import ACTION_DIM, OBS_DIM, TinyEnv, tiny_policy


def observations(n, batch=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, OBS_DIM) if batch is None else (n, batch, OBS_DIM)
    return rng.normal(size=shape).astype(np.float32)


def random_fixed_planner(policy, seed=0):
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    plan = np.random.default_rng(seed).integers(0, 4, size=(steps, blocks), dtype=np.int8)
    return FixedPlanner(enforce_warmup(plan[None], np.zeros(1, bool))[0])


def test_act_returns_actions_and_runs_inference_every_ta_steps(policy):
    obs = observations(9)
    inferences = []
    for o in obs:
        action = policy.act(o)
        assert action.shape == (ACTION_DIM,) and action.dtype == np.float32
        inferences.append(policy.last_inference)
    assert len({id(r) for r in inferences}) == 3  # steps 0, 4, 8 with Ta=4
    record = inferences[0]
    assert record.plan.shape == (1, policy.sampler.num_steps, policy.config.backbone.n_blocks)
    assert record.plan.dtype == np.int8 and record.sparsity == 0.0
    assert set(record.latency_ms) == {"encode", "prune", "decode", "total"}


def test_fewer_action_steps_infer_more_often_from_the_same_chunk_start(policy):
    closed_loop = policy.with_inference(action_steps=2)
    inferred = []
    for o in observations(6):
        closed_loop.act(o)
        inferred.append(closed_loop.last_act_inferred)
    assert inferred == [True, False] * 3 and closed_loop.planner is policy.planner
    first = tiny_policy(seed=0).act(observations(1)[0], generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(
        tiny_policy(seed=0).with_inference(action_steps=2).act(observations(1)[0], generator=torch.Generator().manual_seed(3)), first)
    horizon = policy.config.backbone.horizon
    with pytest.raises(ValueError, match=f"needs horizon >= {horizon + 1}, got {horizon}"):
        policy.with_inference(action_steps=horizon - policy.config.backbone.n_obs_steps + 2)


def test_temperature_scales_the_sampler_noise_and_zero_makes_sampling_deterministic():
    stochastic = tiny_policy(sampler=SamplerConfig("ddpm", 100), seed=0)
    sample, noise = stochastic.draw_noise(2, torch.Generator().manual_seed(3))
    cooled_sample, cooled_noise = stochastic.with_inference(temperature=0.5).draw_noise(2, torch.Generator().manual_seed(3))
    torch.testing.assert_close(cooled_sample, 0.5 * sample)
    torch.testing.assert_close(cooled_noise, 0.5 * noise)
    assert stochastic.with_inference(temperature=0.5).config.n_action_steps == stochastic.config.n_action_steps
    frozen = stochastic.with_inference(temperature=0.0)
    window = observations(2)
    chunks = [frozen.predict_action_chunk(window, generator=torch.Generator().manual_seed(seed)) for seed in (1, 2)]
    np.testing.assert_array_equal(chunks[0], chunks[1])
    assert not np.array_equal(*(stochastic.predict_action_chunk(window, generator=torch.Generator().manual_seed(seed))
                                for seed in (1, 2)))
    for bad in (-0.1, float("nan"), True):
        with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
            stochastic.with_inference(temperature=bad)


def test_temporal_ensemble_infers_every_step_and_starts_each_rollout_from_its_first_chunk(tmp_path):
    dense = tiny_policy(seed=0)
    ensembled = dense.with_inference(temporal_ensemble=True, ensemble_decay=0.5)
    assert ensembled.config.actions_per_inference == 1 and dense.config.actions_per_inference == 4
    obs = observations(6)
    ensembled.reset(seed=7)
    dense.reset(seed=7)
    first, first_dense = ensembled.act(obs[0]), dense.act(obs[0])
    np.testing.assert_array_equal(first, first_dense)  # one prediction for step 0: the chunk's own
    inferred = [ensembled.last_act_inferred]
    for o in obs[1:]:
        ensembled.act(o)
        inferred.append(ensembled.last_act_inferred)
    assert all(inferred)
    ensembled.reset(seed=7)
    np.testing.assert_array_equal(ensembled.act(obs[0]), first)  # reset drops the older chunks
    ensembled.observe(obs[1])
    assert (ensembled.state.queue.weights == 0).all()  # and so does observing another controller's step
    loaded = SparseDiffusionPolicy.load(ensembled.save(tmp_path / "ensembled.pt"))
    assert loaded.config.temporal_ensemble and loaded.config.ensemble_decay == 0.5
    assert not dense.with_inference(temperature=0.5).config.temporal_ensemble
    for bad in (dict(temporal_ensemble=1), dict(ensemble_decay=float("nan")), dict(ensemble_decay=1e6)):
        with pytest.raises(ValueError, match="temporal_ensemble|ensemble_decay"):
            dense.with_inference(**bad)


def test_queue_holds_chunk_from_index_to_minus_1(policy):
    window = observations(2)
    policy_a = tiny_policy(seed=0)
    chunk = policy_a.predict_action_chunk(window, generator=torch.Generator().manual_seed(3))
    policy_b = tiny_policy(seed=0)
    g = torch.Generator().manual_seed(3)
    first = policy_b.act(window[0], generator=g)
    # after a reset the history is padded with the first observation
    padded = tiny_policy(seed=0).predict_action_chunk(np.stack([window[0]] * 2), generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(first, padded[0], atol=1e-6)
    assert chunk.shape == (4, ACTION_DIM)


def test_observe_fills_the_history_without_acting_and_drops_a_stale_queue():
    obs = observations(3)  # To=2 in the tiny model
    expected = tiny_policy(seed=0).predict_action_chunk(obs[1:], generator=torch.Generator().manual_seed(3))
    handed_over = tiny_policy(seed=0)
    handed_over.observe(obs[0])
    handed_over.act(obs[1], generator=torch.Generator().manual_seed(9))  # queues a chunk ...
    handed_over.observe(obs[1])  # ... which another controller's step makes stale (history now obs[1], obs[1])
    assert handed_over.cache.fresh_rows(1).all()  # and the R cache with it
    handed_over.observe(obs[1][None], env_ids=[0])
    first = handed_over.act(obs[2], generator=torch.Generator().manual_seed(3))
    assert handed_over.last_act_inferred  # a fresh chunk, conditioned on the observed past
    np.testing.assert_allclose(first, expected[0], atol=1e-6)
    with pytest.raises(ObservationError):
        handed_over.observe(np.full(OBS_DIM, np.nan, np.float32))


def test_same_seed_same_actions_and_generator_override():
    obs = observations(6)
    a = [tiny_policy(seed=1).act(o) for o in obs[:1]]
    b = [tiny_policy(seed=1).act(o) for o in obs[:1]]
    np.testing.assert_array_equal(a, b)
    p = tiny_policy(seed=1)
    x = p.act(obs[0], generator=torch.Generator().manual_seed(5))
    p.reset()
    y = p.act(obs[0], generator=torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(x, y)


def test_dict_observation_is_read_by_configured_keys(policy):
    obs = observations(1)[0]
    raw = OrderedDict([("robot0_eef_pos", obs[2:]), ("object-state", obs[:2]), ("extra", np.zeros(4))])
    a = tiny_policy(seed=2).act(raw, generator=torch.Generator().manual_seed(0))
    b = tiny_policy(seed=2).act(obs, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_first_act_after_reset_is_dense_and_rollout_cache_is_kept_otherwise():
    p = tiny_policy()
    p.planner = random_fixed_planner(p)
    window = observations(2)
    p.predict_action_chunk(window)
    assert p.last_inference.sparsity == 0.0
    p.predict_action_chunk(window)
    assert p.last_inference.sparsity > 0.5
    p.reset()
    p.predict_action_chunk(window)
    assert p.last_inference.sparsity == 0.0


def test_per_env_reset_in_a_batch_restarts_only_that_env():
    steps = 10
    obs = observations(steps, batch=3)
    p = tiny_policy(seed=0)
    p.planner = random_fixed_planner(p, 4)
    records = {}
    for t in range(steps):
        if t == 6:
            p.reset([1])
        p.act(obs[t])
        records[t] = p.last_inference
    assert records[4].env_ids.tolist() == [0, 1, 2] and records[4].sparsity > 0.5
    assert records[6].env_ids.tolist() == [1] and records[6].sparsity == 0.0  # dense: env 1 starts a rollout
    assert records[8].env_ids.tolist() == [0, 2] and records[8].sparsity > 0.5
    assert p.state.queue.remaining.tolist() == [2, 0, 2]
    np.testing.assert_array_equal(p.state.history[1], obs[[8, 9], 1])


def test_save_load_round_trip(tmp_path):
    p = tiny_policy(sampler=SamplerConfig(), planner=None)
    p.planner = random_fixed_planner(p)
    path = p.save(tmp_path / "policy.pt", metadata={"note": "test"})
    q = SparseDiffusionPolicy.load(path, seed=0)
    assert q.config == p.config and q.metadata == {"note": "test"}
    np.testing.assert_array_equal(q.planner.fixed, p.planner.fixed)
    obs = observations(3)
    p.generator = torch.Generator().manual_seed(0)
    for o in obs:
        np.testing.assert_allclose(p.act(o), q.act(o), atol=1e-6)
    half = SparseDiffusionPolicy.load(p.save(tmp_path / "half.pt", half=True))
    assert half.model.input_emb.weight.dtype == torch.float32



def test_a_planner_file_loads_only_into_the_weights_it_was_trained_on(tmp_path):
    trained_on = tiny_policy(sampler=SamplerConfig(), seed=0)
    planner = random_fixed_planner(trained_on)
    planner_file = trained_on.with_planner(planner).save_planner(tmp_path / "planner.pt")
    shipped_copy = SparseDiffusionPolicy.load(trained_on.save(tmp_path / "half.pt", half=True))
    np.testing.assert_array_equal(shipped_copy.with_planner_file(planner_file).planner.fixed, planner.fixed)
    retrained = tiny_policy(sampler=SamplerConfig(), seed=1)  # same backbone config, other weights
    with pytest.raises(CheckpointError, match="trained on other weights"):
        retrained.with_planner_file(planner_file)
    with torch.no_grad():
        shipped_copy.normalizer.fields["action"].scale.mul_(2)  # refit on other data
    with pytest.raises(CheckpointError, match="trained on other weights"):
        shipped_copy.with_planner_file(planner_file)


def test_saving_the_same_policy_again_gives_the_same_bytes(tmp_path):
    p = tiny_policy(sampler=SamplerConfig(), planner=None)
    first = p.save(tmp_path / "policy.pt", half=True).read_bytes()
    assert p.save(tmp_path / "policy.pt", half=True).read_bytes() == first  # a reshipped zoo file does not churn

class PlainObject:
    """Any non-tensor object: a weights-only load must refuse to unpickle it."""


def test_bad_checkpoints_are_refused_with_clear_errors(tmp_path):
    p = tiny_policy()
    good = p.save(tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        SparseDiffusionPolicy.load(truncated)
    pickled = tmp_path / "pickle.pt"
    torch.save({"format": "tts_gym.policy", "obj": PlainObject()}, pickled, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="weights-only"):
        SparseDiffusionPolicy.load(pickled)
    payload = torch.load(good, weights_only=True)
    del payload["normalizer"]
    torch.save(payload, tmp_path / "no_norm.pt")
    with pytest.raises(CheckpointError, match="normalizer"):
        SparseDiffusionPolicy.load(tmp_path / "no_norm.pt")
    payload = torch.load(good, weights_only=True)
    payload["config"]["backbone"]["n_emb"] = 64
    torch.save(payload, tmp_path / "other_config.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        SparseDiffusionPolicy.load(tmp_path / "other_config.pt")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        SparseDiffusionPolicy.load(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    "obs, message",
    [
        (np.zeros(OBS_DIM + 1, np.float32), "shape"),
        (np.zeros((2, 2, OBS_DIM), np.float32), "shape"),
        (np.full(OBS_DIM, np.nan, np.float32), "finite"),
        (np.zeros(OBS_DIM, np.int64), "floating dtype"),
        ("not an observation", "array of floats"),
        ({"object": np.zeros(2)}, "no key 'robot0_eef_pos'"),
        ({"object": np.zeros(3), "robot0_eef_pos": np.zeros(3)}, r"observation\['object'\]"),
    ],
)
def test_bad_observations_raise_value_errors(policy, obs, message):
    with pytest.raises(ObservationError, match=message):
        policy.act(obs)
    assert issubclass(ObservationError, ValueError)


def test_make_env_makes_the_env_the_policy_was_trained_on(policy):
    with pytest.raises(ValueError, match="records no env_id"):
        policy.make_env()
    cartpole = SparseDiffusionPolicy(policy.model, policy.normalizer, replace(policy.config, env_id="CartPole-v1"))
    env = cartpole.make_env(max_episode_steps=7)
    assert env.spec.id == "CartPole-v1" and env.spec.max_episode_steps == 7
    env.close()


def test_batch_size_change_needs_reset(policy):
    policy.act(observations(1, batch=2)[0])
    with pytest.raises(ValueError, match="reset"):
        policy.act(observations(1, batch=3)[0])
    policy.reset()
    assert policy.act(observations(1, batch=3)[0]).shape == (3, ACTION_DIM)


def test_flops_of_sparse_inference_are_lower():
    p = tiny_policy()
    window = observations(2)
    dense = count_inference_flops(p, window)
    p.planner = random_fixed_planner(p)
    count_inference_flops(p, window)  # first act of the rollout is dense
    assert count_inference_flops(p, window) < 0.6 * dense


def test_stable_baselines3_evaluate_policy():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    env = make_vec_env(TinyEnv, n_envs=2, seed=0)
    mean, std = evaluate_policy(tiny_policy(), env, n_eval_episodes=4)
    assert np.isfinite(mean) and mean < 0
