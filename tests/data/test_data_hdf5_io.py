"""robomimic writer/reader round trip, D4RL reader, layout detection and error messages."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from tts_gym.data import DatasetError, RobomimicWriter, load_episodes, read_d4rl, read_robomimic

OBS_KEYS = (("object", 3), ("robot0_eef_pos", 2))


def _episode(length: int, offset: float = 0.0):
    obs = np.arange(length * 5, dtype=np.float32).reshape(length, 5) + offset
    actions = np.ones((length, 2), np.float32) * offset
    return obs, actions


def test_robomimic_round_trip(tmp_path):
    path = tmp_path / "demo.hdf5"
    with RobomimicWriter(path, OBS_KEYS, {"env_name": "Dummy", "env_id": "dummy/Env-v0"}) as writer:
        for i, length in enumerate((4, 7)):
            obs, actions = _episode(length, offset=i)
            writer.add_episode(obs, actions, rewards=np.arange(length), states=np.zeros((length, 3)), seed=10 + i)

    episodes = read_robomimic(path)
    assert [len(ep) for ep in episodes] == [4, 7]
    assert [ep.seed for ep in episodes] == [10, 11]
    np.testing.assert_array_equal(episodes[1].obs, _episode(7, 1)[0])
    np.testing.assert_array_equal(episodes[1].actions, _episode(7, 1)[1])
    assert episodes[0].obs.dtype == np.float32 and episodes[0].rewards.shape == (4,)

    with h5py.File(path, "r") as f:
        env_args = json.loads(f["data"].attrs["env_args"])
        assert env_args["env_id"] == "dummy/Env-v0" and env_args["seeds"] == [10, 11]
        assert f["data"].attrs["total"] == 11
        assert f["data/demo_1"].attrs["num_samples"] == 7
        assert f["data/demo_0/obs/object"].shape == (4, 3)
        assert f["data/demo_0/states"].shape == (4, 3)
        assert f["data/demo_0/dones"][-1] == 1

    # explicit key subset and order
    subset = read_robomimic(path, obs_keys=["robot0_eef_pos"])
    np.testing.assert_array_equal(subset[0].obs, _episode(4)[0][:, 3:])
    assert len(load_episodes(path)) == 2


def test_robomimic_foreign_file_uses_robomimic_key_order(tmp_path):
    """A file written by robomimic (no recorded obs_keys) is read in DP's low-dim key order."""
    path = tmp_path / "foreign.hdf5"
    sizes = {"robot0_gripper_qpos": 2, "object": 10, "robot0_eef_quat": 4, "robot0_eef_pos": 3, "robot0_joint_pos": 7}
    with h5py.File(path, "w") as f:
        demo = f.create_group("data/demo_0")
        for i, (key, size) in enumerate(sizes.items()):
            demo.create_dataset(f"obs/{key}", data=np.full((5, size), i, np.float32))
        demo.create_dataset("actions", data=np.zeros((5, 7)))
    (episode,) = read_robomimic(path)
    assert episode.obs.shape == (5, 19)
    np.testing.assert_array_equal(episode.obs[0, :10], 1)  # "object" first
    np.testing.assert_array_equal(episode.obs[0, -2:], 0)  # gripper last


def test_missing_key_and_ragged_demo_errors_name_file_and_key(tmp_path):
    path = tmp_path / "broken.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data/demo_0/obs/object", data=np.zeros((5, 3)))
        f.create_dataset("data/demo_0/actions", data=np.zeros((5, 2)))
        f.create_dataset("data/demo_1/obs/object", data=np.zeros((6, 3)))
        f.create_dataset("data/demo_1/actions", data=np.zeros((5, 2)))
    with pytest.raises(DatasetError, match=r"broken\.hdf5.*demo_1.*ragged"):
        read_robomimic(path, obs_keys=["object"])
    with pytest.raises(DatasetError, match=r"broken\.hdf5.*missing key 'robot0_eef_pos'"):
        read_robomimic(path, obs_keys=["object", "robot0_eef_pos"])

    no_actions = tmp_path / "no_actions.hdf5"
    with h5py.File(no_actions, "w") as f:
        f.create_dataset("data/demo_0/obs/object", data=np.zeros((5, 3)))
    with pytest.raises(DatasetError, match=r"no_actions\.hdf5.*missing key 'actions'"):
        read_robomimic(no_actions)


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_episodes(tmp_path / "absent.hdf5")
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"not an hdf5 file")
    with pytest.raises(DatasetError, match="garbage.hdf5"):
        load_episodes(garbage)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(DatasetError, match="missing key 'data'"):
        load_episodes(other)
    assert issubclass(DatasetError, ValueError)


def test_d4rl_reader_splits_on_terminals_and_timeouts(tmp_path):
    path = tmp_path / "d4rl.hdf5"
    n = 10
    terminals = np.zeros(n, bool)
    timeouts = np.zeros(n, bool)
    terminals[2] = True  # episode 0: rows 0-2
    timeouts[6] = True  # episode 1: rows 3-6; rows 7-9 unfinished
    with h5py.File(path, "w") as f:
        f["observations"] = np.arange(n * 4, dtype=np.float64).reshape(n, 4)
        f["actions"] = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
        f["rewards"] = np.arange(n, dtype=np.float64)
        f["terminals"] = terminals
        f["timeouts"] = timeouts
    episodes = read_d4rl(path)
    assert [len(ep) for ep in episodes] == [3, 4, 3]
    np.testing.assert_array_equal(episodes[1].obs[0], [12, 13, 14, 15])
    np.testing.assert_array_equal(episodes[2].rewards, [7, 8, 9])
    assert episodes[0].obs.dtype == np.float32
    assert [len(ep) for ep in load_episodes(path)] == [3, 4, 3]


def test_d4rl_reader_errors(tmp_path):
    path = tmp_path / "d4rl_bad.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.zeros((5, 3))
        f["terminals"] = np.zeros(5)
    with pytest.raises(DatasetError, match=r"d4rl_bad\.hdf5.*missing key 'actions'"):
        read_d4rl(path)
    ragged = tmp_path / "d4rl_ragged.hdf5"
    with h5py.File(ragged, "w") as f:
        f["observations"] = np.zeros((5, 3))
        f["actions"] = np.zeros((4, 2))
        f["terminals"] = np.zeros(5)
    with pytest.raises(DatasetError, match="'observations' has 5 rows"):
        read_d4rl(ragged)


def test_interrupted_writer_keeps_finished_episodes(tmp_path):
    """A writer killed without close() leaves every flushed episode readable."""
    path = tmp_path / "killed.hdf5"
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from tts_gym.data import RobomimicWriter
        writer = RobomimicWriter({str(path)!r}, [("object", 3)], {{"env_name": "Dummy"}})
        for seed in range(3):
            writer.add_episode(np.zeros((4 + seed, 3)), np.zeros((4 + seed, 2)), seed=seed)
        os._exit(1)  # no close(), no atexit: as if killed
        """
    )
    subprocess.run([sys.executable, "-c", script], check=False)
    episodes = read_robomimic(path)
    assert [ep.seed for ep in episodes] == [0, 1, 2]
    assert [len(ep) for ep in episodes] == [4, 5, 6]
