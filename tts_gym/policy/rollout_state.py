"""Per-environment observation history, action queue and noise stream of the rollouts a policy runs."""
from __future__ import annotations

import numpy as np
import torch

from .action_queue import ChunkQueue, TemporalEnsemble


class RolloutState:
    """Keeps the last To observations and the actions still to execute, per environment.

    After a reset the history is padded with the first observation; inference runs only when an
    environment's queue is empty (``ChunkQueue``: every Ta steps; ``TemporalEnsemble``: every step).

    A reset with a seed gives the environment its own noise stream, so its actions depend on its
    seed and observations only, not on which other environments share the batch.
    """

    def __init__(self, n_obs_steps: int, queue: ChunkQueue | TemporalEnsemble) -> None:
        self.n_obs_steps = n_obs_steps
        self.queue = queue
        self.num_envs: int | None = None
        self.history = np.zeros((0, n_obs_steps, 0), np.float32)
        self.started = np.zeros(0, bool)
        self.streams: list[torch.Generator | None] = []
        self._pending_seed: int | None = None  # a seed given before the number of envs is known

    def reset(self, rows=None, seed: int | list[int] | None = None) -> None:
        """``seed``: one int (env ``rows[i]`` gets ``seed + i``, as Gymnasium's vector envs do) or one per row."""
        if rows is None:
            self.num_envs, self._pending_seed = None, seed  # applied when the number of envs is known
            return
        rows = np.asarray(rows, dtype=int).reshape(-1)
        if self.num_envs is None or not len(rows):
            if seed is not None:
                raise ValueError("seed the noise of some envs only once the policy runs them (after start())")
            return
        if rows.min() < 0 or rows.max() >= self.num_envs:
            raise IndexError(f"env ids {rows.tolist()} out of range for {self.num_envs} environments")
        self.started[rows] = False
        self.queue.clear(rows)
        if seed is not None:
            for row, row_seed in zip(rows, _per_row(seed, len(rows))):
                self.streams[row] = torch.Generator().manual_seed(row_seed)

    def bind(self, num_envs: int, obs_dim: int, action_dim: int) -> None:
        if self.num_envs is None:
            self.num_envs = num_envs
            self.history = np.zeros((num_envs, self.n_obs_steps, obs_dim), np.float32)
            self.queue.bind(num_envs, action_dim)
            self.started = np.zeros(num_envs, bool)
            seed, self._pending_seed = self._pending_seed, None
            self.streams = [None] * num_envs if seed is None else [
                torch.Generator().manual_seed(s) for s in _per_row(seed, num_envs)]
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

    def generators(self, rows: np.ndarray) -> list[torch.Generator] | None:
        """The noise streams of ``rows`` if every one of them was seeded, else None."""
        if self.num_envs is None or len(rows) == 0 or rows.max() >= self.num_envs:
            return None
        streams = [self.streams[row] for row in rows]
        return None if any(stream is None for stream in streams) else streams


def _per_row(seed, count: int) -> list[int]:
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(count)]
    seeds = [int(s) for s in seed]
    if len(seeds) != count:
        raise ValueError(f"expected one seed per env ({count}), got {len(seeds)}")
    return seeds
