"""How predicted chunks become executed actions: two interchangeable queues, one row per environment.

``ChunkQueue`` is Diffusion Policy's receding horizon: execute the chunk's actions one per step, infer
again when they run out. ``TemporalEnsemble`` is ACT's temporal ensembling: infer at every step and
execute, for the current step, a weighted mean of every prediction made for it by the last chunks, so
no single chunk's boundary decides where the arm turns.
"""
from __future__ import annotations

import math

import numpy as np


class ChunkQueue:
    """The actions still to execute of each env's last chunk (``chunk_length`` of them when full)."""

    def __init__(self, chunk_length: int) -> None:
        self.chunk_length = chunk_length
        self.chunk = np.zeros((0, chunk_length, 0), np.float32)
        self.remaining = np.zeros(0, int)

    def bind(self, num_envs: int, action_dim: int) -> None:
        self.chunk = np.zeros((num_envs, self.chunk_length, action_dim), np.float32)
        self.remaining = np.zeros(num_envs, int)

    def clear(self, rows) -> None:
        self.remaining[rows] = 0

    def empty(self, rows: np.ndarray) -> np.ndarray:
        return self.remaining[rows] == 0

    def fill(self, rows: np.ndarray, chunk: np.ndarray) -> None:
        self.chunk[rows] = chunk
        self.remaining[rows] = self.chunk_length

    def execution_shares(self) -> np.ndarray:
        """How much of each of a chunk's ``chunk_length`` actions reaches the env, summing to 1: all
        of each, as each runs once."""
        return np.full(self.chunk_length, 1.0 / self.chunk_length)

    def pop(self, rows: np.ndarray) -> np.ndarray:
        actions = self.chunk[rows, self.chunk_length - self.remaining[rows]]
        self.remaining[rows] -= 1
        return actions


class TemporalEnsemble:
    """Per env, the weighted sum and total weight of the predictions for each of the next
    ``chunk_length`` steps; every step needs a new chunk.

    A chunk predicted ``i`` inferences before the newest weighs ``exp(decay * i)`` relative to it, i.e.
    ACT's ``exp(-m * i)`` with ``i = 0`` the oldest: ``decay > 0`` favours older chunks (commitment),
    ``decay < 0`` newer ones (reactivity), 0 is the plain mean. The running sums make this O(1) chunks
    of memory; only the ratios matter, and a step's entries live ``chunk_length`` inferences, so the
    rescaling stays within ``exp(|decay| * chunk_length)``.
    """

    def __init__(self, chunk_length: int, decay: float) -> None:
        self.chunk_length = chunk_length
        self.older = math.exp(decay)  # what the existing sums weigh against a new chunk's 1
        self.sums = np.zeros((0, chunk_length, 0))
        self.weights = np.zeros((0, chunk_length))

    def bind(self, num_envs: int, action_dim: int) -> None:
        self.sums = np.zeros((num_envs, self.chunk_length, action_dim))
        self.weights = np.zeros((num_envs, self.chunk_length))

    def clear(self, rows) -> None:
        self.sums[rows] = 0.0
        self.weights[rows] = 0.0

    def empty(self, rows: np.ndarray) -> np.ndarray:
        return np.ones(len(rows), bool)

    def fill(self, rows: np.ndarray, chunk: np.ndarray) -> None:
        self.sums[rows] = self.older * self.sums[rows] + chunk
        self.weights[rows] = self.older * self.weights[rows] + 1.0

    def execution_shares(self) -> np.ndarray:
        """How much of each of a chunk's ``chunk_length`` actions reaches the env, summing to 1: action
        ``a`` runs ``a`` inferences later, when the chunk is that much older, in a mean over the last
        ``chunk_length`` chunks (the steady state, once the queue is full)."""
        weights = self.older ** np.arange(self.chunk_length)
        return weights / weights.sum()

    def pop(self, rows: np.ndarray) -> np.ndarray:
        if (self.weights[rows, 0] == 0).any():
            raise RuntimeError("temporal ensemble popped before any chunk predicted this step; fill first")
        actions = (self.sums[rows, 0] / self.weights[rows, 0, None]).astype(np.float32)
        self.sums[rows] = np.roll(self.sums[rows], -1, axis=1)
        self.weights[rows] = np.roll(self.weights[rows], -1, axis=1)
        self.sums[rows, -1] = 0.0
        self.weights[rows, -1] = 0.0
        return actions
