"""The in-memory unit every reader returns and every consumer (windowing, normalizer fitting) takes.

Keeping one small dataclass for both robomimic and D4RL files means the training code never has to
know which on-disk layout the demonstrations came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or does not have the expected layout.

    Messages always name the file and the offending group / key so that a bad path or a truncated
    collection can be fixed without opening the file by hand.
    """


@dataclass
class Episode:
    """One demonstration: ``obs[t]`` is the observation on which ``actions[t]`` was taken.

    Attributes:
        obs: ``[T, Do]`` float32 flat observations.
        actions: ``[T, Da]`` float32 actions.
        rewards: optional ``[T]`` float32 rewards.
        seed: the ``reset(seed=...)`` that reproduces the episode, when known.
        name: where the episode came from (e.g. ``"demo_3"``), for error messages and debugging.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: Optional[np.ndarray] = None
    seed: Optional[int] = None
    name: Optional[str] = None

    def __post_init__(self) -> None:
        self.obs = np.asarray(self.obs, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        if self.rewards is not None:
            self.rewards = np.asarray(self.rewards, dtype=np.float32).reshape(-1)
        if self.obs.ndim != 2 or self.actions.ndim != 2:
            raise DatasetError(
                f"episode {self.name!r}: obs and actions must be 2-D [T, D], got shapes "
                f"{self.obs.shape} and {self.actions.shape}"
            )
        if len(self.obs) != len(self.actions):
            raise DatasetError(
                f"episode {self.name!r} is ragged: {len(self.obs)} observations but "
                f"{len(self.actions)} actions"
            )
        if self.rewards is not None and len(self.rewards) != len(self.actions):
            raise DatasetError(
                f"episode {self.name!r} is ragged: {len(self.rewards)} rewards but "
                f"{len(self.actions)} actions"
            )

    def __len__(self) -> int:
        return len(self.actions)
