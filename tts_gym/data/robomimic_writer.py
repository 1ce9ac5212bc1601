"""Incremental writer for robomimic's HDF5 layout.

Layout written (the subset of robomimic's that low-dim training and our readers use)::

    data                      attrs: total (int), env_args (JSON string)
    data/demo_<i>             attrs: num_samples (int), seed (int, -1 when unknown)
    data/demo_<i>/obs/<key>   [T, size] float32, one dataset per observation piece
    data/demo_<i>/actions     [T, Da] float32
    data/demo_<i>/rewards     [T] float32
    data/demo_<i>/dones       [T] uint8
    data/demo_<i>/states      [T, Ds] float64 (simulator state, only when given)

Each episode is written in one go and the file is flushed afterwards, so a collection killed between
episodes leaves a file in which every finished demo is readable. ``num_samples`` is written last, and
the readers treat a demo without it as corrupt.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Sequence

import h5py
import numpy as np

from tts_gym.data.episode import DatasetError

DEMO_PREFIX = "demo_"
NO_SEED = -1  # stored in the ``seed`` attribute when an episode has no known seed


def split_observation(flat_obs: np.ndarray, obs_keys: Sequence[tuple[str, int]]) -> dict[str, np.ndarray]:
    """Cut ``[T, Do]`` flat observations into robomimic's per-key arrays, following ``obs_keys``."""
    flat_obs = np.asarray(flat_obs)
    expected = sum(size for _, size in obs_keys)
    if flat_obs.ndim != 2 or flat_obs.shape[1] != expected:
        raise ValueError(f"flat observations of shape {flat_obs.shape} do not match obs_keys totalling {expected}")
    pieces, start = {}, 0
    for key, size in obs_keys:
        pieces[key] = flat_obs[:, start : start + size]
        start += size
    return pieces


class RobomimicWriter:
    """Append demonstrations to a robomimic-layout HDF5 file, one flushed episode at a time.

    Args:
        path: output file; its parent directory is created. An existing file is overwritten.
        obs_keys: ``(key, size)`` pieces of the flat observation, in order (an env's ``obs_keys``).
        env_args: JSON-serialisable description of the environment (robomimic's ``env_args``:
            ``env_name``, ``type``, ``env_kwargs``, plus whatever else the caller records, e.g. the
            gymnasium id). The writer adds ``obs_keys`` and keeps ``seeds`` up to date.
    """

    def __init__(self, path: str | os.PathLike, obs_keys: Sequence[tuple[str, int]], env_args: Mapping[str, Any]):
        self.path = os.fspath(path)
        self.obs_keys = tuple((str(k), int(s)) for k, s in obs_keys)
        self.env_args = dict(env_args)
        self.env_args["obs_keys"] = [list(pair) for pair in self.obs_keys]
        self.seeds: list[int] = []
        self.total = 0
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        self._file = h5py.File(self.path, "w")
        self._data = self._file.create_group("data")
        self._write_header()

    @property
    def num_episodes(self) -> int:
        return len(self.seeds)

    def _write_header(self) -> None:
        self.env_args["seeds"] = list(self.seeds)
        self._data.attrs["env_args"] = json.dumps(self.env_args)
        self._data.attrs["total"] = self.total
        self._file.flush()

    def add_episode(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: Optional[np.ndarray] = None,
        dones: Optional[np.ndarray] = None,
        states: Optional[np.ndarray] = None,
        seed: Optional[int] = None,
    ) -> str:
        """Write one finished episode and flush. ``obs`` is ``[T, Do]`` flat; returns the demo name."""
        if self._file is None:
            raise RuntimeError(f"{self.path}: writer is closed")
        actions = np.asarray(actions, dtype=np.float32)
        length = len(actions)
        pieces = split_observation(obs, self.obs_keys)
        if len(obs) != length:
            raise DatasetError(f"{self.path}: episode has {len(obs)} observations but {length} actions")
        rewards = np.zeros(length, np.float32) if rewards is None else np.asarray(rewards, np.float32).reshape(-1)
        if dones is None:
            dones = np.zeros(length, np.uint8)
            dones[-1] = 1
        dones = np.asarray(dones, np.uint8).reshape(-1)
        if len(rewards) != length or len(dones) != length:
            raise DatasetError(f"{self.path}: rewards/dones length does not match {length} actions")

        name = f"{DEMO_PREFIX}{self.num_episodes}"
        demo = self._data.create_group(name)
        obs_group = demo.create_group("obs")
        for key, value in pieces.items():
            obs_group.create_dataset(key, data=np.asarray(value, np.float32))
        demo.create_dataset("actions", data=actions)
        demo.create_dataset("rewards", data=rewards)
        demo.create_dataset("dones", data=dones)
        if states is not None:
            states = np.asarray(states, np.float64)
            if len(states) != length:
                raise DatasetError(f"{self.path}: {len(states)} states but {length} actions")
            demo.create_dataset("states", data=states)
        demo.attrs["seed"] = NO_SEED if seed is None else int(seed)
        demo.attrs["num_samples"] = length  # written last: marks the demo as complete

        self.seeds.append(NO_SEED if seed is None else int(seed))
        self.total += length
        self._write_header()
        return name

    def close(self) -> None:
        if self._file is not None:
            self._write_header()
            self._file.close()
            self._file = None

    def __enter__(self) -> "RobomimicWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
