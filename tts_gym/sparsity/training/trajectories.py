"""Reference trajectories for pruner training: the observation windows each act() of a rollout saw.

Stored as HDF5, one group per rollout (``rollouts/ep_<i>/windows`` [n_inferences, To, Do]) with its
seed, outcome and the reuse share of the policy that played it (0 for dense rollouts), appended one rollout at a time so an interrupted collection keeps what it has and
resumes where it stopped.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

GROUP = "rollouts"


class TrajectoryStore:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def seeds(self) -> list[int]:
        if not self.path.is_file():
            return []
        with h5py.File(self.path, "r") as handle:
            group = handle.get(GROUP)
            return [] if group is None else [int(group[name].attrs["seed"]) for name in group]

    def reuse_shares(self) -> list[float]:
        """Per rollout, the mean reuse share of the acts that played it: 0 dense, > 0 a sparse policy's."""
        if not self.path.is_file():
            return []
        with h5py.File(self.path, "r") as handle:
            group = handle.get(GROUP)
            return [] if group is None else [float(group[name].attrs.get("reuse", 0.0)) for name in group
                                             if "seed" in group[name].attrs]

    def append(self, windows: np.ndarray, seed: int, success: bool, reuse: float = 0.0) -> None:
        windows = np.asarray(windows, np.float32)
        if windows.ndim != 3 or not len(windows):
            raise ValueError(f"windows must be [n_inferences, To, Do] with n >= 1, got {list(windows.shape)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(self.path, "a") as handle:
            group = handle.require_group(GROUP)
            episode = group.create_group(f"ep_{len(group)}")
            episode.create_dataset("windows", data=windows)
            episode.attrs["success"] = bool(success)
            episode.attrs["reuse"] = float(reuse)
            episode.attrs["seed"] = int(seed)  # written last: marks the rollout as complete

    def load(self) -> list[np.ndarray]:
        """Every complete rollout's windows; raises ValueError naming the file if there are none."""
        if not self.path.is_file():
            raise ValueError(f"{self.path}: no trajectory file; record rollouts first (tts-gym record-rollouts)")
        with h5py.File(self.path, "r") as handle:
            group = handle.get(GROUP)
            if group is None or not len(group):
                raise ValueError(f"{self.path}: holds no rollouts")
            return [np.asarray(group[name]["windows"], np.float32) for name in group if "seed" in group[name].attrs]
