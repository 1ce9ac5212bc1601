"""Reader for Minari datasets, where D4RL's kitchen (and other) demonstrations now live.

Minari keeps a dataset in a directory (``~/.minari/datasets/D4RL/kitchen/complete-v2``) whose
``data/main_data.hdf5`` holds one group ``episode_<id>`` per episode with ``observations`` (one row
more than the actions: the observation after the last step), ``actions``, ``rewards``,
``terminations`` and ``truncations``. A dict observation is stored as nested groups, one dataset per
leaf (``observations/achieved_goal/kettle``).

Flattening: the observation on which ``actions[t]`` was taken is ``observations[t]``; the final row is
dropped. Of a dict observation the ``observation`` leaf alone is read when there is one (the
goal-conditioned convention: for FrankaKitchen-v1 this is exactly the 59-d vector ``tts_gym/Kitchen-v0``
observes, while ``achieved_goal`` repeats object joints and ``desired_goal`` is constant); otherwise
every leaf, concatenated in path order (numbers by value, so a tuple's ``_index_10`` follows
``_index_9``). ``obs_keys`` picks leaves by their path instead.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Sequence

import h5py
import numpy as np

from tts_gym.data.episode import DatasetError, Episode
from tts_gym.data.hdf5_access import numeric, open_hdf5, require

MINARI_FILE = "main_data.hdf5"
GOAL_ENV_OBSERVATION = "observation"
PER_STEP_KEYS = ("rewards", "terminations", "truncations")  # one row per action, like the actions
_EPISODE_NAME = re.compile(r"^episode_(\d+)$")


def dataset_file(path: str | os.PathLike) -> str:
    """``path`` itself, or for a Minari dataset directory the HDF5 file inside it."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    for candidate in (os.path.join(path, "data", MINARI_FILE), os.path.join(path, MINARI_FILE)):
        if os.path.isfile(candidate):
            return candidate
    raise DatasetError(f"{path}: a directory without data/{MINARI_FILE} (the file a Minari dataset directory holds)")


def episode_names(f: h5py.File) -> list[str]:
    """The file's ``episode_<id>`` groups in id order (``episode_10`` after ``episode_9``)."""
    found = ((int(m.group(1)), name) for name in f.keys() if (m := _EPISODE_NAME.match(name)))
    return [name for _, name in sorted(found)]


def _path_order(path: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path)]


def _leaves(group: h5py.Group, prefix: str = "") -> list[str]:
    """Paths of every dataset below ``group``."""
    paths = []
    for name, item in group.items():
        path = f"{prefix}{name}"
        paths += _leaves(item, f"{path}/") if isinstance(item, h5py.Group) else [path]
    return paths


def observation_keys(observations: h5py.Dataset | h5py.Group) -> list[str]:
    """The leaves read by default (see the module docstring); [] for an array observation."""
    if isinstance(observations, h5py.Dataset):
        return []
    if isinstance(observations.get(GOAL_ENV_OBSERVATION), h5py.Dataset):
        return [GOAL_ENV_OBSERVATION]
    return sorted(_leaves(observations), key=_path_order)


def _observations(path: str, episode: h5py.Group, where: str, keys: Sequence[str], steps: int) -> np.ndarray:
    """The flat ``[steps, D]`` observations on which the actions were taken."""
    stored = require(path, episode, "observations", where)
    if isinstance(stored, h5py.Dataset):
        if keys:
            raise DatasetError(f"{path}: {where}/observations is an array, it has no keys {list(keys)} to choose")
        named = [("observations", stored)]
    else:
        named = [(f"observations/{key}", require(path, stored, key, f"{where}/observations")) for key in keys]
    if not named:
        raise DatasetError(f"{path}: {where}/observations has no arrays to read")
    pieces = []
    for name, dataset in named:
        piece = numeric(path, dataset, f"{where}/{name}")
        if len(piece) != steps + 1:
            raise DatasetError(f"{path}: {where}/{name} has {len(piece)} rows, expected {steps + 1} (one per "
                               f"action and the final observation): a truncated or ragged episode")
        pieces.append(piece[:-1].reshape(steps, -1))
    return np.concatenate(pieces, axis=1)


def _episode_group(path: str, f: h5py.File, name: str) -> h5py.Group:
    if not isinstance(f[name], h5py.Group):
        raise DatasetError(f"{path}: {name} is a {type(f[name]).__name__}, expected a group of arrays")
    return f[name]


def _read_episode(path: str, episode: h5py.Group, name: str, keys: Sequence[str]) -> Episode:
    actions = numeric(path, require(path, episode, "actions", name), f"{name}/actions")
    steps = len(actions)
    per_step = {key: numeric(path, require(path, episode, key, name), f"{name}/{key}") for key in PER_STEP_KEYS}
    for key, values in per_step.items():
        if len(values) != steps:
            raise DatasetError(f"{path}: {name} is ragged: {key} has {len(values)} rows but actions has {steps}")
    total_steps = episode.attrs.get("total_steps")
    if total_steps is not None and int(total_steps) != steps:
        raise DatasetError(f"{path}: {name} is truncated: total_steps={int(total_steps)} but {steps} actions")
    obs = _observations(path, episode, name, keys, steps)
    seed = episode.attrs.get("seed")
    return Episode(obs, actions, rewards=per_step["rewards"], seed=None if seed is None else int(seed), name=name)


def read_minari(path: str | os.PathLike, obs_keys: Optional[Sequence[str]] = None) -> list[Episode]:
    """Read every episode of a Minari dataset (its ``main_data.hdf5`` or its directory).

    Args:
        path: the HDF5 file or the dataset directory.
        obs_keys: leaves of a dict observation to concatenate, as paths below ``observations`` (e.g.
            ``["observation", "desired_goal/kettle"]``). Default: see the module docstring.
    """
    path = dataset_file(path)
    with open_hdf5(path) as f:
        names = episode_names(f)
        if not names:
            raise DatasetError(f"{path}: no 'episode_<id>' groups (not a Minari dataset, or an empty one)")
        first = require(path, _episode_group(path, f, names[0]), "observations", names[0])
        keys = list(obs_keys) if obs_keys is not None else observation_keys(first)
        episodes = []
        for name in names:
            try:
                episodes.append(_read_episode(path, _episode_group(path, f, name), name, keys))
            except OSError as err:  # a damaged chunk surfaces only when read
                raise DatasetError(f"{path}: {name} could not be read ({err})") from err
    return episodes
