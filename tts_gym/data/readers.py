"""Readers turning HDF5 demonstration files into :class:`Episode` lists.

Three layouts are supported so that users with existing data can train on it:

* robomimic (``data/demo_<i>/obs/<key>``, ``actions``, ...), written by our collector and by robomimic;
* D4RL (flat ``observations``, ``actions``, ``terminals``, ``timeouts`` arrays over all episodes);
* Minari (``episode_<id>/observations``, ...; :mod:`tts_gym.data.minari_reader`), D4RL's successor.

Every problem (missing file, missing key, ragged demo) raises :class:`DatasetError` naming the file.
"""
from __future__ import annotations

import json
import os
import re
from typing import Optional, Sequence

import h5py
import numpy as np

from tts_gym.data.episode import DatasetError, Episode
from tts_gym.data.hdf5_access import numeric, open_hdf5, require
from tts_gym.data.minari_reader import dataset_file, episode_names, read_minari
from tts_gym.data.robomimic_writer import NO_SEED

# The low-dim keys (and order) robomimic / diffusion_policy use for the robosuite tasks.
ROBOMIMIC_LOW_DIM_KEYS = ("object", "robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
D4RL_REQUIRED_KEYS = ("observations", "actions")
_DEMO_NAME = re.compile(r"^demo_(\d+)$")


def _demo_names(path: str, data: h5py.Group) -> list[str]:
    """Demo group names sorted by their integer index (``demo_10`` after ``demo_9``)."""
    names = []
    for name in data.keys():
        match = _DEMO_NAME.match(name)
        if match:
            names.append((int(match.group(1)), name))
    if not names:
        raise DatasetError(f"{path}: group 'data' contains no 'demo_<i>' groups")
    return [name for _, name in sorted(names)]


def _env_args(data: h5py.Group) -> dict:
    raw = data.attrs.get("env_args")
    try:
        env_args = json.loads(raw) if raw is not None else {}
    except (TypeError, ValueError):
        return {}
    return env_args if isinstance(env_args, dict) else {}


def read_env_args(path: str | os.PathLike) -> dict:
    """robomimic's ``data.attrs["env_args"]`` (env id, ``obs_keys`` as (key, size) pairs, seeds).

    {} for files that record none (D4RL and Minari layouts, foreign robomimic files).
    """
    with open_hdf5(dataset_file(path)) as f:
        data = f.get("data")
        return _env_args(data) if isinstance(data, h5py.Group) else {}


def _recorded_obs_keys(data: h5py.Group) -> Optional[list[str]]:
    """The observation order our writer stores in ``env_args``; None for foreign files."""
    keys = _env_args(data).get("obs_keys")
    return [pair[0] for pair in keys] if keys else None


def _default_obs_keys(path: str, data: h5py.Group, first_demo: str) -> list[str]:
    recorded = _recorded_obs_keys(data)
    if recorded:
        return recorded
    obs_group = data[first_demo].get("obs")
    if obs_group is None:
        raise DatasetError(f"{path}: data/{first_demo} has no 'obs' group")
    if all(key in obs_group for key in ROBOMIMIC_LOW_DIM_KEYS):
        return list(ROBOMIMIC_LOW_DIM_KEYS)
    # Foreign file without the robomimic keys: every per-step vector, alphabetically.
    return sorted(key for key, value in obs_group.items() if isinstance(value, h5py.Dataset) and value.ndim <= 2)


def read_robomimic(path: str | os.PathLike, obs_keys: Optional[Sequence[str]] = None) -> list[Episode]:
    """Read every demo of a robomimic-layout file, concatenating ``obs_keys`` into flat observations.

    Args:
        path: HDF5 file with a ``data`` group.
        obs_keys: observation keys to concatenate, in order. Default: the order recorded by our writer,
            else robomimic's low-dim keys ``object, robot0_eef_pos, robot0_eef_quat,
            robot0_gripper_qpos`` when present, else every per-step vector key alphabetically.
    """
    path = os.fspath(path)
    with open_hdf5(path) as f:
        data = require(path, f, "data", "file")
        names = _demo_names(path, data)
        keys = list(obs_keys) if obs_keys is not None else _default_obs_keys(path, data, names[0])
        episodes = []
        for name in names:
            demo = data[name]
            where = f"data/{name}"
            actions = numeric(path, require(path, demo, "actions", where), f"{where}/actions")
            obs_group = require(path, demo, "obs", where)
            pieces = []
            for key in keys:
                piece = numeric(path, require(path, obs_group, key, f"{where}/obs"), f"{where}/obs/{key}")
                pieces.append(piece.reshape(len(piece), -1))
                if len(piece) != len(actions):
                    raise DatasetError(
                        f"{path}: {where} is ragged: obs/{key} has {len(piece)} steps but actions has {len(actions)}"
                    )
            num_samples = demo.attrs.get("num_samples")
            if num_samples is not None and int(num_samples) != len(actions):
                raise DatasetError(f"{path}: {where} is ragged: num_samples={int(num_samples)} but {len(actions)} actions")
            rewards = numeric(path, demo["rewards"], f"{where}/rewards") if "rewards" in demo else None
            if rewards is not None and len(rewards) != len(actions):
                raise DatasetError(f"{path}: {where} is ragged: {len(rewards)} rewards but {len(actions)} actions")
            seed = demo.attrs.get("seed")
            seed = None if seed is None or int(seed) == NO_SEED else int(seed)
            if not pieces:
                raise DatasetError(f"{path}: {where} has no observation keys to read")
            try:
                episodes.append(Episode(np.concatenate(pieces, axis=1), actions, rewards=rewards, seed=seed, name=name))
            except DatasetError as error:
                raise DatasetError(f"{path}: {error}") from error
    return episodes


def read_d4rl(path: str | os.PathLike) -> list[Episode]:
    """Read a D4RL-style file, splitting the flat arrays at ``terminals | timeouts``.

    A trailing segment that is neither terminated nor timed out (an unfinished last episode) is kept.
    """
    path = os.fspath(path)
    with open_hdf5(path) as f:
        arrays = {key: numeric(path, require(path, f, key, "file"), key) for key in D4RL_REQUIRED_KEYS}
        length = len(arrays["actions"])
        for key in ("terminals", "timeouts", "rewards"):
            if key in f:
                arrays[key] = np.asarray(f[key])
    if "terminals" not in arrays and "timeouts" not in arrays:
        raise DatasetError(f"{path}: file is missing key 'terminals' (and 'timeouts'): cannot split episodes")
    for key, value in arrays.items():
        if len(value) != length:
            raise DatasetError(f"{path}: key '{key}' has {len(value)} rows but 'actions' has {length}")
    ends = np.zeros(length, dtype=bool)
    for key in ("terminals", "timeouts"):
        if key in arrays:
            ends |= arrays[key].astype(bool).reshape(-1)
    boundaries = list(np.flatnonzero(ends) + 1)
    if not boundaries or boundaries[-1] != length:
        boundaries.append(length)
    episodes, start = [], 0
    for index, stop in enumerate(boundaries):
        if stop <= start:
            continue
        rewards = arrays["rewards"][start:stop] if "rewards" in arrays else None
        obs = arrays["observations"][start:stop].reshape(stop - start, -1)
        episodes.append(Episode(obs, arrays["actions"][start:stop], rewards=rewards, name=f"episode_{index}"))
        start = stop
    return episodes


def load_episodes(path: str | os.PathLike, obs_keys: Optional[Sequence[str]] = None) -> list[Episode]:
    """Read ``path`` with whichever reader its layout calls for (robomimic, D4RL or Minari; a Minari
    dataset directory is read from the HDF5 file inside it)."""
    path = dataset_file(path)
    with open_hdf5(path) as f:
        is_robomimic = "data" in f
        is_d4rl = "observations" in f
        is_minari = bool(episode_names(f))
    if is_robomimic:
        return read_robomimic(path, obs_keys=obs_keys)
    if is_minari:
        return read_minari(path, obs_keys=obs_keys)
    if is_d4rl:
        if obs_keys is not None:
            raise DatasetError(f"{path}: obs_keys cannot be chosen for a D4RL-layout file")
        return read_d4rl(path)
    raise DatasetError(f"{path}: neither robomimic layout (missing key 'data'), D4RL layout (missing key "
                       "'observations') nor Minari layout (no 'episode_<id>' groups)")
