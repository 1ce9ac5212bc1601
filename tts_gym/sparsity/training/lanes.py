"""Recorded rollouts replayed side by side for pruner training, the way a vectorised env runs them.

Each of ``lanes`` rows plays whole rollouts back to back; a training batch is the next ``frames``
acts of every lane. The rollout cache R can then carry from batch to batch as it does from act()
to act() in a rollout: only a rollout's first act is dense, and every other act trains the pruner
on the caches its own earlier choices left, however deep into the rollout. Each epoch deals the
shuffled rollouts to the lanes (each to the shortest lane so far) and plays the whole batches that
the shortest lane holds.
"""
from __future__ import annotations

import numpy as np


class RolloutLanes:
    def __init__(self, trajectories: list[np.ndarray], lanes: int, frames: int, seed: int = 0) -> None:
        if lanes < 1 or frames < 1:
            raise ValueError(f"lanes and frames must be >= 1, got {lanes} and {frames}")
        if len(trajectories) < lanes:
            raise ValueError(f"{len(trajectories)} rollouts cannot fill {lanes} lanes (the batch size): "
                             "record more rollouts or lower the batch size")
        if sum(map(len, trajectories)) < lanes * frames:
            raise ValueError(f"{sum(map(len, trajectories))} acts in all cannot fill one batch of {lanes} lanes x "
                             f"{frames} acts: record longer rollouts or lower the batch size or segment frames")
        self.trajectories = trajectories
        self.lanes, self.frames, self.seed = lanes, frames, seed
        self._dealt: tuple[int, np.ndarray, np.ndarray] | None = None

    def deal(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's playback: rollout and frame index per lane and act, two int arrays [lanes, acts]."""
        if self._dealt is None or self._dealt[0] != epoch:
            order = np.random.default_rng((self.seed, epoch)).permutation(len(self.trajectories))
            dealt: list[list[int]] = [[] for _ in range(self.lanes)]
            lengths = np.zeros(self.lanes, dtype=int)
            for rollout in order:
                lane = int(np.argmin(lengths))
                dealt[lane].append(int(rollout))
                lengths[lane] += len(self.trajectories[rollout])
            acts = lengths.min() // self.frames * self.frames
            rollouts = np.stack([np.concatenate([np.full(len(self.trajectories[r]), r) for r in lane])[:acts]
                                 for lane in dealt])
            frames = np.stack([np.concatenate([np.arange(len(self.trajectories[r])) for r in lane])[:acts]
                               for lane in dealt])
            self._dealt = (epoch, rollouts, frames)
        return self._dealt[1], self._dealt[2]

    def batches(self, epoch: int) -> int:
        return self.deal(epoch)[0].shape[1] // self.frames

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Rollout and frame indices [lanes, frames] of batch ``index`` of ``epoch``."""
        if not 0 <= index < self.batches(epoch):
            raise IndexError(f"epoch {epoch} has {self.batches(epoch)} batches, asked for batch {index}")
        acts = slice(index * self.frames, (index + 1) * self.frames)
        rollouts, frames = self.deal(epoch)
        return rollouts[:, acts], frames[:, acts]

    def windows(self, rollouts: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """The observation windows [..., To, Do] of those acts."""
        return np.stack([self.trajectories[r][f] for r, f in zip(rollouts.ravel(), frames.ravel())]).reshape(
            *rollouts.shape, *self.trajectories[0].shape[1:])
