"""Demonstration data: robomimic/D4RL/Minari HDF5 I/O, DP-style windowed dataset, normalizer, collection.

Typical training-side use::

    from tts_gym.data import load_episodes, split_episodes, WindowDataset
    train, val = split_episodes(load_episodes("outputs/data/kitchen.hdf5"), val_ratio=0.05, seed=0)
    dataset = WindowDataset(train, n_obs_steps=2, horizon=10, n_action_steps=8)
    normalizer = dataset.fit_normalizer()
"""
from tts_gym.data.episode import DatasetError, Episode
from tts_gym.data.minari_reader import read_minari
from tts_gym.data.normalizer import FieldNormalizer, Normalizer
from tts_gym.data.readers import load_episodes, read_d4rl, read_env_args, read_robomimic
from tts_gym.data.robomimic_writer import RobomimicWriter, split_observation
from tts_gym.data.window_dataset import WindowDataset, split_episodes

__all__ = [
    "DatasetError",
    "Episode",
    "FieldNormalizer",
    "Normalizer",
    "RobomimicWriter",
    "WindowDataset",
    "load_episodes",
    "read_d4rl",
    "read_env_args",
    "read_minari",
    "read_robomimic",
    "split_episodes",
    "split_observation",
]
