"""Recorded rollouts replayed in lanes for pruner training, the way a vectorised env runs them.

Each of ``lanes`` rows plays whole rollouts back to back; a training batch advances ``batch``
lanes drawn at random by their next ``frames`` acts. The rollout cache R can then carry from batch
to batch as it does from act() to act() in a rollout: only a rollout's first act is dense, and
every other act trains the pruner on the caches its own earlier choices left, however deep into
the rollout. Drawing the lanes of a batch from a larger pool keeps consecutive optimiser steps
apart in rollout and phase: eight lanes advanced together, all starting their first rollout at
once, move the pruner through one task phase after another. Each epoch deals the shuffled rollouts
to the lanes (each to the shortest lane so far) and plays batches while ``batch`` lanes have
``frames`` acts left.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LaneBatch:
    lanes: np.ndarray  # [B] which lanes (rows of the trainer's pool cache)
    rollouts: np.ndarray  # [B, frames] rollout index of each act
    frames: np.ndarray  # [B, frames] act index inside its rollout (0: the rollout's first, dense act)


class RolloutLanes:
    def __init__(self, trajectories: list[np.ndarray], lanes: int, batch: int, frames: int, seed: int = 0) -> None:
        if not 1 <= batch <= lanes or frames < 1:
            raise ValueError(f"need 1 <= batch <= lanes and frames >= 1, got batch {batch}, lanes {lanes}, "
                             f"frames {frames}")
        if len(trajectories) < lanes:
            raise ValueError(f"{len(trajectories)} rollouts cannot fill {lanes} lanes: record more rollouts or "
                             "use fewer lanes")
        self.trajectories = trajectories
        self.lanes, self.batch, self.frames, self.seed = lanes, batch, frames, seed
        self._schedules: dict[int, list[LaneBatch]] = {}
        if not self.schedule(0):
            raise ValueError(f"the rollouts cannot fill one batch of {batch} lanes x {frames} acts: record longer "
                             "rollouts or lower the batch size or segment frames")

    def schedule(self, epoch: int) -> list[LaneBatch]:
        """Every batch of ``epoch``, in order (a pure function of the seed and the epoch: resumable)."""
        if epoch not in self._schedules:
            rng = np.random.default_rng((self.seed, epoch))
            dealt: list[list[int]] = [[] for _ in range(self.lanes)]
            lengths = np.zeros(self.lanes, dtype=int)
            for rollout in rng.permutation(len(self.trajectories)):
                lane = int(np.argmin(lengths))
                dealt[lane].append(int(rollout))
                lengths[lane] += len(self.trajectories[rollout])
            played = [np.concatenate([np.full(len(self.trajectories[r]), r) for r in lane]) for lane in dealt]
            frames = [np.concatenate([np.arange(len(self.trajectories[r])) for r in lane]) for lane in dealt]
            position = np.zeros(self.lanes, dtype=int)
            batches = []
            while True:
                ready = np.flatnonzero(lengths - position >= self.frames)
                if len(ready) < self.batch:
                    break
                picked = np.sort(rng.choice(ready, self.batch, replace=False))
                acts = [slice(position[lane], position[lane] + self.frames) for lane in picked]
                batches.append(LaneBatch(picked, np.stack([played[l][a] for l, a in zip(picked, acts)]),
                                         np.stack([frames[l][a] for l, a in zip(picked, acts)])))
                position[picked] += self.frames
            self._schedules[epoch] = batches
        return self._schedules[epoch]

    def batches(self, epoch: int) -> int:
        return len(self.schedule(epoch))

    def batch_of(self, epoch: int, index: int) -> LaneBatch:
        batches = self.schedule(epoch)
        if not 0 <= index < len(batches):
            raise IndexError(f"epoch {epoch} has {len(batches)} batches, asked for batch {index}")
        return batches[index]

    def windows(self, rollouts: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """The observation windows [..., To, Do] of those acts."""
        return np.stack([self.trajectories[r][f] for r, f in zip(rollouts.ravel(), frames.ravel())]).reshape(
            *rollouts.shape, *self.trajectories[0].shape[1:])
