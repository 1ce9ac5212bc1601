"""Minari reader: the kitchen dict layout, key choice, ordering, training from a dataset directory and
the errors of damaged files. The files are written with h5py in Minari's layout (main_data.hdf5 with
``episode_<id>`` groups), so the minari package is not needed."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from tts_gym.cli import main
from tts_gym.data import DatasetError, load_episodes, read_minari

OBS_DIM, GOAL_DIM, ACTION_DIM = 4, 2, 3


def kitchen_observations(steps: int, offset: float) -> dict:
    """A FrankaKitchen-like dict observation of ``steps + 1`` rows; row t of every leaf starts at t + offset."""
    rows = np.arange(steps + 1, dtype=np.float64)[:, None] + offset
    return {
        "observation": rows + np.arange(OBS_DIM),
        "achieved_goal": {"kettle": rows + 0.5 + np.zeros(GOAL_DIM), "microwave": rows + 0.25},
        "desired_goal": {"kettle": np.ones((steps + 1, GOAL_DIM)), "microwave": np.ones((steps + 1, 1))},
    }


def _write_tree(group: h5py.Group, name: str, value) -> None:
    if isinstance(value, dict):
        child = group.create_group(name)
        for key, item in value.items():
            _write_tree(child, key, item)
    else:
        group.create_dataset(name, data=value)


def write_minari(path, lengths=(4, 5, 6), observations=kitchen_observations, with_metadata_dir=False):
    """A Minari-layout file (or dataset directory ``path`` holding data/main_data.hdf5); returns what to read."""
    file = path / "data" / "main_data.hdf5" if with_metadata_dir else path
    file.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(file, "w") as f:
        for index, steps in enumerate(lengths):
            episode = f.create_group(f"episode_{index}")
            episode.attrs.update(id=index, seed=100 + index, total_steps=steps)
            _write_tree(episode, "observations", observations(steps, float(index)))
            episode["actions"] = np.full((steps, ACTION_DIM), index, np.float64)
            episode["rewards"] = np.arange(steps, dtype=np.float64)
            episode["terminations"] = np.zeros(steps, bool)
            episode["truncations"] = np.arange(steps) == steps - 1
            episode.create_group("infos")
    return path


def test_kitchen_layout_reads_the_observation_leaf_without_the_final_row(tmp_path):
    lengths = [2 + i % 3 for i in range(11)]  # episode_10 must come after episode_9
    dataset = write_minari(tmp_path / "complete-v2", lengths, with_metadata_dir=True)
    episodes = load_episodes(dataset)  # the directory, as minari downloads it
    assert [ep.name for ep in episodes] == [f"episode_{i}" for i in range(11)]
    assert [len(ep) for ep in episodes] == lengths
    assert [ep.seed for ep in episodes] == [100 + i for i in range(11)]
    tenth = episodes[10]
    np.testing.assert_array_equal(tenth.obs, kitchen_observations(lengths[10], 10.0)["observation"][:-1])
    np.testing.assert_array_equal(tenth.actions, np.full((lengths[10], ACTION_DIM), 10))
    np.testing.assert_array_equal(tenth.rewards, np.arange(lengths[10]))
    assert tenth.obs.dtype == np.float32
    assert len(read_minari(dataset / "data" / "main_data.hdf5")) == 11


def test_chosen_keys_other_dicts_and_array_observations(tmp_path):
    path = write_minari(tmp_path / "kitchen.hdf5")
    (first, *_) = read_minari(path, obs_keys=["observation", "achieved_goal/kettle"])
    assert first.obs.shape == (4, OBS_DIM + GOAL_DIM)
    np.testing.assert_array_equal(first.obs[1, OBS_DIM:], [1.5, 1.5])

    def no_observation_leaf(steps, offset):  # every leaf, in path order, numbers by value
        rows = np.arange(steps + 1, dtype=np.float64)[:, None]
        return {"pose": {f"_index_{i}": rows + i for i in (10, 2, 9)}, "arm": rows - 1}

    (first, *_) = read_minari(write_minari(tmp_path / "tuple.hdf5", observations=no_observation_leaf))
    np.testing.assert_array_equal(first.obs[0], [-1, 2, 9, 10])

    def array(steps, offset):
        return np.arange((steps + 1) * OBS_DIM, dtype=np.float32).reshape(steps + 1, OBS_DIM)

    (first, *_) = load_episodes(write_minari(tmp_path / "box.hdf5", observations=array))
    np.testing.assert_array_equal(first.obs, array(4, 0)[:-1])
    with pytest.raises(DatasetError, match=r"box\.hdf5: episode_0/observations is an array"):
        read_minari(tmp_path / "box.hdf5", obs_keys=["observation"])


def _damage(episode: h5py.Group, key: str, value=None) -> None:
    del episode[key]
    if value is not None:
        episode[key] = value


DAMAGES = {
    "missing actions": (lambda ep: _damage(ep, "actions"), r"episode_1 is missing key 'actions'"),
    "missing truncations": (lambda ep: _damage(ep, "truncations"), r"episode_1 is missing key 'truncations'"),
    "no final observation": (
        lambda ep: _damage(ep, "observations/observation", np.zeros((5, OBS_DIM))),
        r"episode_1/observations/observation has 5 rows, expected 6 .*truncated",
    ),
    "NaN": (
        lambda ep: _damage(ep, "observations/observation", np.where(np.arange(6)[:, None] == 3, np.nan, np.zeros((6, OBS_DIM)))),
        r"episode_1/observations/observation has NaN or inf values \(first at row 3\)",
    ),
    "ragged rewards": (lambda ep: _damage(ep, "rewards", np.zeros(4)), r"episode_1 is ragged: rewards has 4 rows"),
    "total_steps": (lambda ep: ep.attrs.__setitem__("total_steps", 9), r"episode_1 is truncated: total_steps=9"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_episodes_are_named_in_the_error(tmp_path, damage):
    path = write_minari(tmp_path / "bad.hdf5")
    apply, message = DAMAGES[damage]
    with h5py.File(path, "a") as f:
        apply(f["episode_1"])
    with pytest.raises(DatasetError, match=r"bad\.hdf5: " + message):
        load_episodes(path)


def test_cut_files_and_empty_directories(tmp_path):
    path = write_minari(tmp_path / "cut.hdf5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # as an interrupted download leaves it
    with pytest.raises(DatasetError, match=r"cut\.hdf5: not a readable HDF5 file"):
        load_episodes(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: a directory without data/main_data\.hdf5"):
        load_episodes(tmp_path / "empty")
    with h5py.File(tmp_path / "none.hdf5", "w"):
        pass
    with pytest.raises(DatasetError, match=r"none\.hdf5: no 'episode_<id>' groups"):
        read_minari(tmp_path / "none.hdf5")


def test_train_accepts_a_minari_dataset_directory(tmp_path, capsys):
    dataset = write_minari(tmp_path / "complete-v2", lengths=(12, 14, 16, 18, 20), with_metadata_dir=True)
    out = tmp_path / "policy.pt"
    assert main(["train", "--dataset", str(dataset), "--config", "tiny", "--epochs", "1", "--out", str(out)]) == 0
    assert out.is_file() and "1 epochs" in capsys.readouterr().out
