"""Per-environment observation history and action queue (receding-horizon execution, as DP does)."""
from __future__ import annotations

import numpy as np


class RolloutState:
    """Keeps the last To observations and the queue of actions still to execute, per environment.

    After a reset the history is padded with the first observation; inference runs only when an
    environment's queue is empty, and its Ta actions are then popped one per step.
    """

    def __init__(self, n_obs_steps: int, n_action_steps: int) -> None:
        self.n_obs_steps = n_obs_steps
        self.n_action_steps = n_action_steps
        self.num_envs: int | None = None
        self.history = np.zeros((0, n_obs_steps, 0), np.float32)
        self.queue = np.zeros((0, n_action_steps, 0), np.float32)
        self.remaining = np.zeros(0, int)
        self.started = np.zeros(0, bool)

    def reset(self, rows=None) -> None:
        if rows is None:
            self.num_envs = None
            return
        rows = np.asarray(rows, dtype=int)
        if self.num_envs is not None and len(rows):
            if rows.min() < 0 or rows.max() >= self.num_envs:
                raise IndexError(f"env ids {rows.tolist()} out of range for {self.num_envs} environments")
            self.started[rows] = False
            self.remaining[rows] = 0

    def bind(self, num_envs: int, obs_dim: int, action_dim: int) -> None:
        if self.num_envs is None:
            self.num_envs = num_envs
            self.history = np.zeros((num_envs, self.n_obs_steps, obs_dim), np.float32)
            self.queue = np.zeros((num_envs, self.n_action_steps, action_dim), np.float32)
            self.remaining = np.zeros(num_envs, int)
            self.started = np.zeros(num_envs, bool)
        elif num_envs != self.num_envs:
            raise ValueError(
                f"got a batch of {num_envs} observations but the policy is running {self.num_envs} "
                "environments; call policy.reset() before changing the number of environments"
            )

    def push(self, obs: np.ndarray, rows: np.ndarray) -> None:
        """Append one observation per env of ``rows`` (``obs`` [len(rows), Do])."""
        fresh = ~self.started[rows]
        history = self.history[rows]
        history[fresh] = obs[fresh, None]
        history[~fresh] = np.concatenate((history[~fresh, 1:], obs[~fresh, None]), axis=1)
        self.history[rows] = history
        self.started[rows] = True

    def rows_needing_inference(self, rows: np.ndarray) -> np.ndarray:
        return rows[self.remaining[rows] == 0]

    def fill(self, rows: np.ndarray, actions: np.ndarray) -> None:
        self.queue[rows] = actions
        self.remaining[rows] = self.n_action_steps

    def pop(self, rows: np.ndarray) -> np.ndarray:
        actions = self.queue[rows, self.n_action_steps - self.remaining[rows]]
        self.remaining[rows] -= 1
        return actions
