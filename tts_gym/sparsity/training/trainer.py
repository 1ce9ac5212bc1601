"""Trajectory-level pruner training with the backbone frozen.

Rollouts are cut into segments of consecutive acts, trained side by side. In a segment the first
act is dense (as after a reset: it fills the rollout cache R); every later act runs the pruner,
executes its straight-through gates, and is compared with the dense chunk computed from the *same*
initial and per-step noise, so the loss measures only what sparsity changes. R carries from act to
act through the segment (values, not gradients), so the pruner learns on the caches its own
earlier choices left behind.
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ...files import save_torch, write_csv
from ...policy.policy import SparseDiffusionPolicy
from ..cache import ResidualCache
from ..plan import dense_plan
from ..planners.learned import PrunerPlanner, calibrate_compute_offset
from ..pruner import Pruner, PrunerConfig, available_options, straight_through_gates
from .config import PrunerTrainConfig

STATE_FILE = "pruner_state.pt"
LOG_FILE = "pruner_log.csv"
CALIBRATION_CHUNK = 64  # windows encoded per call when calibrating


def cut_segments(trajectories: list[np.ndarray], frames: int) -> np.ndarray:
    """Non-overlapping runs of ``frames`` consecutive windows: [N, frames, To, Do]."""
    segments = [t[i : i + frames] for t in trajectories for i in range(0, len(t) - frames + 1, frames)]
    if not segments:
        raise ValueError(f"no rollout has {frames} acts; record longer rollouts or lower segment_frames")
    return np.stack(segments)


@torch.no_grad()
def calibration_offset(policy: SparseDiffusionPolicy, pruner: Pruner, segments: np.ndarray, rho: float,
                       max_windows: int = 2048) -> float:
    """The offset for ``rho`` on the acts after the first of each segment (every cache available)."""
    windows = segments[:, 1:].reshape(-1, *segments.shape[2:])[:max_windows]
    memories = [policy.encode(windows[i:i + CALIBRATION_CHUNK]) for i in range(0, len(windows), CALIBRATION_CHUNK)]
    return calibrate_compute_offset(pruner, memories, rho)


def recalibrated(policy: SparseDiffusionPolicy, trajectories: list[np.ndarray], rho: float,
                 segment_frames: int = PrunerTrainConfig.segment_frames) -> SparseDiffusionPolicy:
    """The same trained pruner moved to another sparsity target by its compute-logit offset alone."""
    if not isinstance(policy.planner, PrunerPlanner):
        raise ValueError(f"recalibration needs a pruner planner, the policy has {policy.planner.name!r}")
    pruner = policy.planner.pruner
    offset = calibration_offset(policy, pruner, cut_segments(trajectories, segment_frames), rho)
    return policy.with_planner(PrunerPlanner(pruner, offset))


class PrunerTrainer:
    def __init__(self, policy: SparseDiffusionPolicy, trajectories: list[np.ndarray], config: PrunerTrainConfig,
                 run_dir: str | os.PathLike) -> None:
        self.policy = policy
        self.config = config
        self.run_dir = Path(run_dir)
        self.sampler = policy.sampler
        self.executor = policy.executor  # the policy holds the backbone frozen (eval, no grad)
        backbone = policy.config.backbone
        torch.manual_seed(config.seed)
        self.pruner = Pruner(PrunerConfig(config.strategy, backbone.n_blocks, backbone.n_emb, config.width,
                                          config.n_head, config.ffn_mult))
        self.decisions = self.pruner.config.decisions
        self.optimizer = torch.optim.AdamW(self.pruner.parameters(), lr=config.learning_rate)
        self.segments = cut_segments(trajectories, config.segment_frames)
        self.epoch, self.batch_index, self.history = 0, 0, []

    def start_from(self, planner: PrunerPlanner) -> None:
        """Warm start from a trained pruner of the same shape (another sampler's, say); the offset is
        not taken: the trained pruner is calibrated afresh at the end."""
        if not isinstance(planner, PrunerPlanner) or planner.pruner.config != self.pruner.config:
            got = planner.pruner.config if isinstance(planner, PrunerPlanner) else planner.name
            raise ValueError(f"cannot start from {got}: expected a pruner with config {self.pruner.config}")
        self.pruner.load_state_dict(planner.pruner.state_dict())

    @property
    def batches_per_epoch(self) -> int:
        return int(np.ceil(len(self.segments) / self.config.batch_size))

    # ------------------------------------------------------------------ one segment batch
    def train_segment(self, windows: np.ndarray, generator: torch.Generator) -> dict[str, float]:
        """``windows`` [B, F, To, Do] raw observations; one optimiser step per sparse act."""
        batch, frames = windows.shape[:2]
        steps, blocks = self.sampler.num_steps, self.policy.config.backbone.n_blocks
        cache = ResidualCache(steps, blocks)
        dense = dense_plan(batch, steps, blocks)
        free_target = 1.0 - self.config.rho
        metrics = []
        for f in range(frames):
            with torch.no_grad():
                memory = self.policy.encode(windows[:, f])
                sample, noise = self.policy.draw_noise(batch, generator)
                if f == 0:  # the first act of a rollout is dense and fills R
                    self.executor.run(memory, dense, sample, noise, cache)
                    continue
                reference = self.executor.run(memory, dense, sample, noise, ResidualCache(steps, blocks))
            self.pruner.train()
            logits = self.pruner(memory)
            gates, probs = straight_through_gates(
                logits, available_options(self.decisions, torch.from_numpy(cache.rollout_valid)))
            chunk = self.executor.run_gated(memory, gates, self.decisions, sample, noise, cache)
            fidelity = (chunk - reference).abs().mean()
            # straight-through: the forward value is the hard compute share, the gradient the softmax's
            compute_share = gates[:, 1:, :, 0].mean()  # step 0 is dense by rule
            loss = fidelity + self.config.sparsity_weight * (compute_share - free_target).abs()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.pruner.parameters(), 1.0)
            self.optimizer.step()
            cache.detach_()
            hard_reuse = (gates.detach()[:, 1:].argmax(-1) != 0).float().mean()
            metrics.append((fidelity.item(), compute_share.item(), hard_reuse.item()))
        fidelity, compute_share, reuse = np.mean(metrics, axis=0)
        return {"fidelity_l1": float(fidelity), "compute_prob": float(compute_share), "free_sparsity": float(reuse)}

    # ------------------------------------------------------------------ loop, state
    def train(self, progress: bool = True, max_batches: int | None = None, max_seconds: float | None = None) -> list[dict]:
        """Train to ``config.epochs``; ``max_batches`` / ``max_seconds`` stop early (state is saved: resumable)."""
        total = self.config.epochs * self.batches_per_epoch
        done = self.epoch * self.batches_per_epoch + self.batch_index
        stop = total if max_batches is None else min(total, done + max_batches)
        bar = tqdm(total=total, initial=done, disable=not progress, desc=f"pruner {self.config.strategy}",
                   unit="batch", dynamic_ncols=True)
        start = time.perf_counter()
        while done < stop and (max_seconds is None or time.perf_counter() - start < max_seconds):
            order = np.random.default_rng(self.config.seed + self.epoch).permutation(len(self.segments))
            pick = order[self.batch_index * self.config.batch_size:(self.batch_index + 1) * self.config.batch_size]
            generator = torch.Generator().manual_seed(self.config.seed * 100_003 + done)
            row = {"epoch": self.epoch, "batch": self.batch_index, **self.train_segment(self.segments[pick], generator),
                   "seconds": time.perf_counter() - start}
            self.history.append(row)
            bar.set_postfix(l1=f"{row['fidelity_l1']:.4f}", sparsity=f"{row['free_sparsity']:.3f}")
            bar.update(1)
            done += 1
            self.batch_index += 1
            if self.batch_index == self.batches_per_epoch:
                self.epoch, self.batch_index = self.epoch + 1, 0
            self.save_state()
        bar.close()
        return self.history

    def save_state(self) -> None:
        state = {"config": self.config.to_dict(), "pruner": self.pruner.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "batch_index": self.batch_index,
                 "history": self.history}
        save_torch(state, self.run_dir / STATE_FILE)
        write_csv(self.run_dir / LOG_FILE, self.history)

    def try_resume(self) -> bool:
        path = self.run_dir / STATE_FILE
        if not path.is_file():
            return False
        state = torch.load(path, map_location="cpu", weights_only=True)
        if json.loads(json.dumps(state["config"])) != json.loads(json.dumps(self.config.to_dict())):
            raise ValueError(f"{path} was written with another pruner config; use another --run-dir")
        self.pruner.load_state_dict(state["pruner"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.batch_index, self.history = int(state["epoch"]), int(state["batch_index"]), list(state["history"])
        return True

    def calibrate(self) -> float:
        """Compute-logit offset that puts the trained pruner's reuse share on ``rho`` (see planners.learned)."""
        return calibration_offset(self.policy, self.pruner, self.segments, self.config.rho)

    def sparse_policy(self, calibrated: bool = True) -> SparseDiffusionPolicy:
        offset = self.calibrate() if calibrated else 0.0
        return self.policy.with_planner(PrunerPlanner(copy.deepcopy(self.pruner), offset))
