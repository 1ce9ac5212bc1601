"""Bad input ends in a clear error, long runs do not leak, same seeds give the same files."""
import hashlib
import os
import resource

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tts_gym import CheckpointError, SamplerConfig, SparseDiffusionPolicy
from tts_gym.data import DatasetError, load_episodes
from tts_gym.sparsity.planners.learned import PrunerPlanner, calibrate_compute_offset
from tts_gym.sparsity.pruner import Pruner, PrunerConfig
from tts_gym.wrappers import RecordMasks, TestTimeSparsity

from helpers import ACTION_DIM, FUZZ_TALLY, MEASURED, OBS_DIM, TinyEnv, tiny_policy

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
POLICY = tiny_policy()
VALID = np.zeros(OBS_DIM, np.float32)


def acts_cleanly_or_refuses(obs, category: str) -> str:
    """Either a finite action of the right shape, or a ValueError / TypeError naming what was expected."""
    POLICY.reset()
    try:
        action = POLICY.act(obs)
    except (ValueError, TypeError) as error:
        assert "expected" in str(error) or "must" in str(error) or "no key" in str(error), str(error)
        FUZZ_TALLY[category, f"refused ({type(error).__name__})"] += 1
        return "refused"
    assert np.isfinite(action).all() and action.shape[-1] == ACTION_DIM
    FUZZ_TALLY[category, "acted"] += 1
    return "acted"


@FUZZ
@given(hnp.arrays(dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_,
                                          np.complex64, np.uint8]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=7),
                  elements=None)
       | hnp.arrays(dtype=st.sampled_from([np.float16, np.float32, np.float64]),  # the right shape, any values
                    shape=st.sampled_from([(OBS_DIM,), (1, OBS_DIM), (3, OBS_DIM)]),
                    elements=st.floats(-6e4, 6e4, width=16) | st.sampled_from([np.nan, np.inf, -np.inf, 0.5])))
def test_fuzzed_arrays(obs):
    outcome = acts_cleanly_or_refuses(obs, f"observation array ({obs.dtype.name})")
    well_formed = obs.dtype.kind == "f" and obs.ndim in (1, 2) and obs.shape[-1] == OBS_DIM and obs.size \
        and np.isfinite(obs.astype(np.float32)).all()
    if not well_formed:
        assert outcome == "refused"
    elif np.abs(obs).max() < 1e3:  # in any sane range the policy must act; far beyond, refusing is fine
        assert outcome == "acted"


@FUZZ
@given(st.one_of(st.none(), st.text(max_size=5), st.integers(), st.lists(st.floats(), max_size=7),
                 st.dictionaries(st.sampled_from(["object", "robot0_eef_pos", "object-state", "extra"]),
                                 hnp.arrays(np.float32, st.integers(0, 4)), max_size=4)))
def test_fuzzed_python_objects(obs):
    acts_cleanly_or_refuses(obs, f"observation object ({type(obs).__name__})")


def test_object_arrays_and_non_finite_values_are_refused():
    for bad in (np.array([object()] * OBS_DIM), np.full(OBS_DIM, np.inf, np.float32),
                np.array([[0.0] * OBS_DIM, [np.nan] * OBS_DIM], np.float32)):
        assert acts_cleanly_or_refuses(bad, "observation object/NaN/inf array") == "refused"


def test_batch_that_disagrees_with_the_policy_state():
    policy = tiny_policy()
    policy.act(np.zeros((3, OBS_DIM), np.float32))
    with pytest.raises(ValueError, match="reset"):
        policy.act(np.zeros((2, OBS_DIM), np.float32))
    with pytest.raises(ValueError, match="env_ids"):
        policy.act(np.zeros((2, OBS_DIM), np.float32), env_ids=[0, 5])


@FUZZ
@given(st.integers(min_value=0, max_value=10_000))
def test_truncated_checkpoints_are_refused(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("ckpt")
    good = POLICY.save(folder / "good.pt")
    data = good.read_bytes()
    bad = folder / "bad.pt"
    bad.write_bytes(data[: min(cut, len(data) - 1)])
    with pytest.raises(CheckpointError):
        SparseDiffusionPolicy.load(bad)
    FUZZ_TALLY["checkpoint truncated", "refused (CheckpointError)"] += 1


def test_hdf5_with_missing_keys_or_ragged_demos(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "bad.hdf5"
    with h5py.File(path, "w") as f:
        demo = f.create_group("data/demo_0")
        demo.create_dataset("obs/object", data=np.zeros((5, 3)))
        demo.create_dataset("actions", data=np.zeros((4, 2)))
    with pytest.raises(DatasetError, match="ragged"):
        load_episodes(path)
    with h5py.File(path, "w") as f:
        f.create_group("data/demo_0/obs")
    with pytest.raises(DatasetError, match="actions"):
        load_episodes(path)


@FUZZ
@given(demos=st.lists(st.fixed_dictionaries({
    "obs_len": st.integers(0, 4), "act_len": st.integers(0, 4), "act_dim": st.integers(1, 3),
    "keys": st.sets(st.sampled_from(["object", "robot0_eef_pos"]), max_size=2),
    "actions": st.booleans(), "dtype": st.sampled_from(["f4", "i8", "S3"])}), max_size=3),
    with_data=st.booleans())
def test_fuzzed_robomimic_files(tmp_path_factory, demos, with_data):
    """Random structure (missing groups and keys, ragged lengths, odd dtypes): loads or DatasetError."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path_factory.mktemp("h5") / "fuzz.hdf5"
    with h5py.File(path, "w") as f:
        root = f.create_group("data") if with_data else f.create_group("other")
        for i, demo in enumerate(demos):
            group = root.create_group(f"demo_{i}")
            for key in sorted(demo["keys"]):
                group.create_dataset(f"obs/{key}", data=np.zeros((demo["obs_len"], 2), demo["dtype"]))
            if demo["actions"]:
                group.create_dataset("actions", data=np.zeros((demo["act_len"], demo["act_dim"]), demo["dtype"]))
    try:
        episodes = load_episodes(path)
    except DatasetError as error:
        assert str(path) in str(error)
        FUZZ_TALLY["hdf5 dataset", "refused (DatasetError)"] += 1
        return
    FUZZ_TALLY["hdf5 dataset", "loaded"] += 1
    for episode in episodes:  # whatever loads is consistent and numeric
        assert len(episode.obs) == len(episode.actions) > 0
        assert episode.obs.dtype.kind == "f" and episode.actions.dtype.kind == "f"


def _rollouts(folder, count, seed=0):
    policy = tiny_policy(seed=seed)
    env = RecordMasks(TestTimeSparsity(TinyEnv(length=6), policy), folder)
    actions = []
    for episode in range(count):
        env.reset(seed=episode)
        for _ in range(6):
            env.step()
            actions.append(policy.state.queue.chunk.copy())
    env.close()
    return np.array(actions)


def test_same_seeds_same_actions_plans_and_files(tmp_path):
    a = _rollouts(tmp_path / "a", 3)
    b = _rollouts(tmp_path / "b", 3)
    np.testing.assert_array_equal(a, b)
    digest = lambda path: hashlib.sha256(np.load(path)["plans"].tobytes()).hexdigest()  # noqa: E731
    for name in ("rollout_0000.npz", "rollout_0002.npz"):
        assert digest(tmp_path / "a" / name) == digest(tmp_path / "b" / name)
    assert (tmp_path / "a" / "rollouts.jsonl").read_text().replace("latency", "") .count("seed") == 3


def _sparse_tiny_policy(sampler=SamplerConfig("ddpm", 12, num_train_timesteps=12)):
    """By default DDPM (noise at every step) and a random pruner, so plans and noise both differ per row."""
    policy = tiny_policy(sampler)
    torch.manual_seed(0)
    pruner = Pruner(PrunerConfig("omni", policy.config.backbone.n_blocks, policy.config.backbone.n_emb))
    windows = np.random.default_rng(2).uniform(-1, 1, (16, policy.config.backbone.n_obs_steps, OBS_DIM))
    offset = calibrate_compute_offset(pruner, [policy.encode(windows)], rho=0.5)
    return policy.with_planner(PrunerPlanner(pruner, offset))


def test_seeded_envs_act_the_same_alone_or_in_a_batch():
    seeds, steps = [7, 8, 9], 9
    obs = np.random.default_rng(0).uniform(-1, 1, (len(seeds), steps, OBS_DIM)).astype(np.float32)
    policy = _sparse_tiny_policy()
    alone, alone_plans = [], []
    for row, seed in enumerate(seeds):
        policy.reset(seed=seed)
        alone.append([policy.act(obs[row, t]) for t in range(steps)])
        alone_plans.append(policy.last_inference.plan[0])
    policy.start(len(seeds), seed=seeds)
    batched = np.stack([policy.act(obs[:, t]) for t in range(steps)], axis=1)
    np.testing.assert_allclose(batched, np.array(alone), atol=1e-5)
    MEASURED["determinism: batch 3 vs batch 1, max |action difference|"] = f"{np.abs(batched - alone).max():.2e}"
    np.testing.assert_array_equal(policy.last_inference.plan, np.stack(alone_plans))
    assert 0 < policy.last_inference.sparsity < 1
    # and the batch's order does not matter either: envs act on their own seeds
    policy.start(len(seeds), seed=seeds[::-1])
    reversed_ = np.stack([policy.act(obs[::-1, t]) for t in range(steps)], axis=1)
    np.testing.assert_allclose(reversed_[::-1], batched, atol=1e-5)


def test_seeded_reset_replays_a_rollout_exactly():
    policy = _sparse_tiny_policy()
    obs = np.random.default_rng(1).uniform(-1, 1, (9, OBS_DIM)).astype(np.float32)
    runs = []
    for _ in range(2):
        policy.reset(seed=3)
        runs.append([policy.act(o) for o in obs])
    np.testing.assert_array_equal(runs[0], runs[1])
    policy.reset(seed=4)
    assert not np.allclose(runs[0], [policy.act(o) for o in obs])


def resident_mb() -> float:
    """Current resident set size (not the peak: growth after the first peak must show)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the peak is the best available
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
def test_soak_thousand_rollouts_do_not_leak(tmp_path):
    policy = tiny_policy()
    env = RecordMasks(TestTimeSparsity(TinyEnv(length=6), policy), tmp_path)
    rss = []
    for episode in range(1000):
        env.reset(seed=episode)
        for _ in range(6):
            env.step()
        if episode % 100 == 0:
            rss.append(resident_mb())
        assert policy.cache.rollout_entries() <= policy.sampler.num_steps * policy.config.backbone.n_blocks
        assert not env.plans  # the recorder holds the current rollout only
    env.close()
    MEASURED["soak: resident memory (MB) every 100 rollouts"] = " ".join(f"{r:.0f}" for r in rss)
    assert rss[-1] - rss[1] < 50, rss
    assert len(os.listdir(tmp_path)) == 1001  # 1000 npz + the JSON lines file


def test_ctrl_c_during_a_recorded_evaluation_keeps_finished_rollouts_readable(tmp_path):
    class Interrupted(TinyEnv):
        calls = 0

        def step(self, action):
            Interrupted.calls += 1
            if Interrupted.calls == 15:  # in the third rollout
                raise KeyboardInterrupt
            return super().step(action)

    env = RecordMasks(TestTimeSparsity(Interrupted(length=6), tiny_policy()), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        for episode in range(5):
            env.reset(seed=episode)
            for _ in range(6):
                env.step()
    files = sorted(tmp_path.glob("rollout_*.npz"))
    assert [f.name for f in files] == ["rollout_0000.npz", "rollout_0001.npz"]
    for f in files:
        assert np.load(f)["plans"].shape[0] == 2
    assert len((tmp_path / "rollouts.jsonl").read_text().splitlines()) == 2
    assert not list(tmp_path.glob(".*"))


@pytest.mark.slow
def test_overlapped_planning_gives_the_same_actions_over_ten_thousand_acts():
    inline = _sparse_tiny_policy(SamplerConfig("ddim", 4))  # few steps: 10,000 acts in CI time
    overlapped = inline.with_planner(inline.planner)
    overlapped.overlap_planning = True
    envs, calls = 2, 10_000
    obs = np.random.default_rng(5).uniform(-1, 1, (64, envs, OBS_DIM)).astype(np.float32)
    for policy in (inline, overlapped):
        policy.start(envs, seed=[0, 1])
    sparsities = []
    for i in range(calls):
        if i % 40 == 0 and i:  # rollouts of 40 steps: the rollout cache is dropped and refilled
            for policy in (inline, overlapped):
                policy.reset([0, 1], seed=[i, i + 1])
        a, b = inline.act(obs[i % 64]), overlapped.act(obs[i % 64])
        np.testing.assert_array_equal(a, b)
        if inline.last_act_inferred:
            np.testing.assert_array_equal(inline.last_inference.plan, overlapped.last_inference.plan)
            sparsities.append(inline.last_inference.sparsity)
    assert 0.2 < np.mean(sparsities) < 0.8


def test_the_command_line_names_bad_input_in_one_line(tmp_path, capsys, monkeypatch):
    from tts_gym.cli import TRACEBACK_VARIABLE, main

    truncated = tmp_path / "policy.pt"
    truncated.write_bytes(b"not a checkpoint")
    monkeypatch.delenv(TRACEBACK_VARIABLE, raising=False)
    assert main(["eval", "--policy", str(truncated), "--episodes", "1"]) == 2
    message = capsys.readouterr().err
    assert message.startswith("tts-gym eval: error: ") and "Traceback" not in message
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    with pytest.raises(CheckpointError):
        main(["eval", "--policy", str(truncated), "--episodes", "1"])
