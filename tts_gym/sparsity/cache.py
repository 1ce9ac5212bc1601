"""The three residual caches of omni-reuse (the "lattice"): forward F, timestep T, rollout R.

Entries hold a block's residual branch output ``f(norm(x))`` [B, Tp, d] and are written only when
that block is computed. F and T live for one act(); R lives across the acts of a rollout and is
cleared per environment row when that row starts a new rollout. Stored tensors are never changed
in place (a partial-batch write makes a new tensor), so one computed residual can be shared by
all three caches without copies.
"""
from __future__ import annotations

import operator

import numpy as np
import torch

from ..backbone.config import BLOCKS_PER_LAYER
from .plan import Decision

_REUSE_T = int(Decision.REUSE_T)  # a plain int: runs of decisions are compared as plain ints


class ResidualCache:
    def __init__(self, steps: int, blocks: int) -> None:
        self.steps = steps
        self.blocks = blocks
        self.batch: int | None = None
        self.rollout_valid = np.zeros((0, steps, blocks), dtype=bool)
        self._forward: list[torch.Tensor | None] = []
        self._step: list[torch.Tensor | None] = []
        self._rollout: list[list[torch.Tensor | None]] = []
        self._run_sums: dict[tuple[int, int], tuple[list[torch.Tensor], torch.Tensor]] = {}  # see read_sum
        self._clear_rollout()

    # ------------------------------------------------------------------ lifecycle
    def reset(self, rows: np.ndarray | list[int] | None = None) -> None:
        """Forget the rollout history of ``rows`` (all rows when None): their next act() is dense."""
        if rows is None:
            self.batch = None
            self._clear_rollout()
            return
        rows = np.asarray(rows, dtype=int)
        if self.batch is not None and len(rows):
            if rows.min() < 0 or rows.max() >= self.batch:
                raise IndexError(f"env ids {rows.tolist()} out of range for a batch of {self.batch}")
            self.rollout_valid[rows] = False

    def begin_act(self, batch: int) -> None:
        """Start one act(): F and T start empty; R is kept if the batch size matches the rollout's."""
        self.ensure_batch(batch)
        self._forward = [None] * BLOCKS_PER_LAYER
        self._step = [None] * self.blocks
        self._run_sums = {}

    def end_act(self, plan: np.ndarray) -> None:
        self.rollout_valid |= plan == Decision.COMPUTE
        self._forward = []
        self._step = []
        self._run_sums = {}

    def fresh_rows(self, batch: int) -> np.ndarray:
        """Rows with no rollout history (their act() must be dense to fill R)."""
        if self.batch is None:
            return np.ones(batch, dtype=bool)
        return ~self.rollout_valid.any(axis=(1, 2))

    def _clear_rollout(self) -> None:
        self.rollout_valid = np.zeros((0, self.steps, self.blocks), dtype=bool)
        self._rollout = [[None] * self.blocks for _ in range(self.steps)]

    # ------------------------------------------------------------------ entries
    def peek(self, decision: int, step: int, block: int) -> torch.Tensor | None:
        """The entry a reuse decision would read, or None if it was never written."""
        if decision == Decision.REUSE_F:
            return self._forward[block % BLOCKS_PER_LAYER]
        if decision == Decision.REUSE_T:
            return self._step[block]
        return self._rollout[step][block]

    def read(self, decision: int, step: int, block: int) -> torch.Tensor:
        entry = self.peek(decision, step, block)
        if entry is None:  # validate_plan rules this out; kept as a last guard, never zeros
            raise RuntimeError(f"{Decision(decision).name} read at step {step}, block {block} before any write")
        return entry

    def read_sum(self, decisions: list[int], step: int, start: int, stop: int) -> torch.Tensor:
        """The sum of the entries that blocks ``start .. stop-1`` read under ``decisions`` (all reuse).

        Consecutive steps often read the very same entries (T reads while nothing in between is
        recomputed), so the last sum of each block range is kept and returned again while its
        entries are the same tensors: exactly the same value, without a stack and a sum per step.
        """
        entries = self._entries(decisions, step, start, stop)
        last = self._run_sums.get((start, stop))
        if last is not None and all(map(operator.is_, last[0], entries)):
            return last[1]
        total = torch.stack(entries).sum(0)
        self._run_sums[(start, stop)] = (entries, total)
        return total

    def _entries(self, decisions: list[int], step: int, start: int, stop: int) -> list[torch.Tensor]:
        run = decisions[start:stop]
        if run.count(_REUSE_T) == len(run):  # most runs read T only: a slice, not a lookup per block
            return self._step[start:stop]
        return [self.read(decision, step, block) for block, decision in enumerate(run, start)]

    def write(self, step: int, block: int, residual: torch.Tensor, rows: torch.Tensor | None = None) -> None:
        """Store a computed residual for all rows, or for ``rows`` only (``residual`` then has len(rows))."""
        kind = block % BLOCKS_PER_LAYER
        if rows is None:
            self._forward[kind] = residual
            self._step[block] = residual
            self._rollout[step][block] = residual
            return
        self._forward[kind] = self._merged(self._forward[kind], residual, rows)
        self._step[block] = self._merged(self._step[block], residual, rows)
        self._rollout[step][block] = self._merged(self._rollout[step][block], residual, rows)

    def blend(self, step: int, block: int, residual: torch.Tensor, computed: torch.Tensor) -> None:
        """Soft write for gated training: ``entry += computed * (residual - entry)``, ``computed`` [B, 1, 1].

        With hard (straight-through) gates this is the write rule of ``write``: entries change only
        on rows that computed the block; the gradient still flows to the gate.
        """
        kind = block % BLOCKS_PER_LAYER
        self._forward[kind] = self._blended(self._forward[kind], residual, computed)
        self._step[block] = self._blended(self._step[block], residual, computed)
        self._rollout[step][block] = self._blended(self._rollout[step][block], residual, computed)

    @staticmethod
    def _blended(old: torch.Tensor | None, residual: torch.Tensor, computed: torch.Tensor) -> torch.Tensor:
        return residual * computed if old is None else old + computed * (residual - old)

    def detach_(self) -> None:
        """Cut the autograd history of the rollout entries (training carries R across frames, not gradients)."""
        self._rollout = [[None if e is None else e.detach() for e in row] for row in self._rollout]

    def _merged(self, old: torch.Tensor | None, new_rows: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        merged = new_rows.new_zeros((self.batch, *new_rows.shape[1:])) if old is None else old.clone()
        merged[rows] = new_rows
        return merged

    def rollout_entries(self) -> int:
        """How many R entries hold a tensor (bounded by K x 3L)."""
        return sum(entry is not None for row in self._rollout for entry in row)

    # ------------------------------------------------------------------ sub-batches
    def ensure_batch(self, batch: int) -> None:
        """Bind the cache to ``batch`` environments (a new rollout set), or check it is the same."""
        if self.batch is None:
            self.batch = batch
            self.rollout_valid = np.zeros((batch, self.steps, self.blocks), dtype=bool)
        elif batch != self.batch:
            raise ValueError(
                f"batch of {batch} observations but the policy is running {self.batch} environments; "
                "call reset() (all envs) before changing the number of environments"
            )

    def subset(self, rows: np.ndarray) -> "ResidualCache":
        """A cache over some environments only (those whose action queue ran out)."""
        index = torch.as_tensor(rows)
        sub = ResidualCache(self.steps, self.blocks)
        sub.ensure_batch(len(rows))
        sub.rollout_valid = self.rollout_valid[rows].copy()
        sub._rollout = [[None if e is None else e[index] for e in row] for row in self._rollout]
        return sub

    def merge(self, rows: np.ndarray, sub: "ResidualCache") -> None:
        """Write back what an act() on ``subset(rows)`` computed."""
        index = torch.as_tensor(rows)
        self.rollout_valid[rows] = sub.rollout_valid
        for k, row in enumerate(sub._rollout):
            for j, entry in enumerate(row):
                if entry is not None:
                    self._rollout[k][j] = self._merged(self._rollout[k][j], entry, index)
