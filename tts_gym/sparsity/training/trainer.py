"""Trajectory-level pruner training with the backbone frozen.

Recorded rollouts are replayed side by side in lanes (see ``lanes``), a batch being a few
consecutive acts of every lane. A rollout's first act is dense (it fills the rollout cache R);
every later act runs the pruner, executes its straight-through gates, and is compared with the
dense chunk computed from the *same* initial and per-step noise, so the loss measures only what
sparsity changes. R carries from act to act and from batch to batch (values, not gradients), so
the pruner learns on the caches its own earlier choices left behind, as at inference.

Four things make it fit a 2-core CPU and aim it at what matters. The pruner starts at the best
static plan of its target reuse (its prior table, see ``Pruner.start_from_plan``): before any step it
*is* that plan. The noise of each recorded act is fixed (one stream per act), so its dense reference
chunk is computed once and reused every epoch. Carrying R across batches makes a dense act one per
rollout instead of one per batch. And only ``gated_steps`` random denoising steps of an act
differentiate their gates, the others run the hard plan, computing only what it computes. The
fidelity term counts each predicted action by how much of it the action queue executes.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ...files import save_torch, write_csv
from ...training.ema import EMA
from ...policy.policy import SparseDiffusionPolicy
from ..cache import ResidualCache
from ..chunk_error import executed_l1
from ..plan import dense_plan
from ..planners.base import FixedPlanner
from ..planners.frozen import FreezeReport, freeze
from ..planners.learned import PrunerPlanner, calibrate_compute_offset
from ..planners.static import (
    bac_plan_for_reuse, best_tail_plan, calibration_residuals, chunk_errors, cosine_similarity_matrices,
    interval_for_reuse, interval_plan, tail_plans,
)
from ..pruner import Pruner, PrunerConfig, available_options, straight_through_gates
from .config import STATIC_FAMILIES, PrunerTrainConfig
from .lanes import RolloutLanes

STATE_FILE = "pruner_state.pt"
REFERENCES_FILE = "references.pt"
START_PLAN_FILE = "start_plan.pt"
LOG_FILE = "pruner_log.csv"
CALIBRATION_CHUNK = 64  # windows encoded per call when calibrating


def acts_after_the_first(trajectories: list[np.ndarray]) -> np.ndarray:
    """The windows of every act with a rollout history (what the pruner plans for): [N, To, Do]."""
    windows = [t[1:] for t in trajectories if len(t) > 1]
    if not windows:
        raise ValueError("no rollout has a second act; record longer rollouts")
    return np.concatenate(windows)


def spread(windows: np.ndarray, count: int) -> np.ndarray:
    """``count`` windows evenly spaced over ``windows`` (all of them if there are fewer)."""
    if len(windows) <= count:
        return windows
    return windows[np.linspace(0, len(windows) - 1, count).round().astype(int)]


def encoded(policy: SparseDiffusionPolicy, windows: np.ndarray) -> list[torch.Tensor]:
    """The decoder memory of ``windows`` [N, To, Do], encoded ``CALIBRATION_CHUNK`` windows per call."""
    return [policy.encode(windows[i:i + CALIBRATION_CHUNK]) for i in range(0, len(windows), CALIBRATION_CHUNK)]


@torch.no_grad()
def calibration_offset(policy: SparseDiffusionPolicy, pruner: Pruner, windows: np.ndarray, rho: float,
                       max_windows: int = 2048) -> float:
    """The offset for ``rho`` over ``windows`` (acts with every cache available)."""
    return calibrate_compute_offset(pruner, encoded(policy, spread(windows, max_windows)), rho)


def static_plan(policy: SparseDiffusionPolicy, windows: np.ndarray, rho: float, kind: str) -> np.ndarray:
    """The static plan ``[K, 3L]`` of about ``rho`` reuse a pruner starts at: BAC's update steps per
    block (dynamic programme over the K x K similarity of calibration activations), interval reuse,
    the tail plan whose chunks are nearest dense's on the windows, or the best of those three."""
    if kind == "best":
        return best_static_plan(policy, windows, rho)[0]
    if kind == "tail":
        return best_tail_plan(policy, windows, rho)[0]
    if kind == "interval":
        return interval_plan(policy.sampler.num_steps, policy.config.backbone.n_blocks, interval_for_reuse(rho))
    return bac_plan_for_reuse(cosine_similarity_matrices(calibration_residuals(policy, windows)), rho)


def best_static_plan(policy: SparseDiffusionPolicy, windows: np.ndarray,
                     rho: float) -> tuple[np.ndarray, str, dict[str, float]]:
    """Of BAC's, the interval and the tail plan at ``rho``, the one whose chunks are nearest dense's
    (``chunk_errors``); also its family and every family's error. Which family wins depends on the
    task: evenly spaced full updates on Can, the last steps computed on Kitchen, never BAC's
    per-block steps where measured."""
    # every candidate (each tail length too) against one dense reference: the search's costliest run
    candidates = {(kind, 0): static_plan(policy, windows, rho, kind) for kind in STATIC_FAMILIES if kind != "tail"}
    candidates.update({("tail", tail): plan for tail, plan in
                       tail_plans(policy.sampler.num_steps, policy.config.backbone.n_blocks, rho).items()})
    errors = chunk_errors(policy, windows, candidates)
    best = min(errors, key=errors.get)
    by_family = {kind: min(error for (family, _), error in errors.items() if family == kind) for kind in STATIC_FAMILIES}
    return candidates[best], best[0], by_family


def recalibrated(policy: SparseDiffusionPolicy, trajectories: list[np.ndarray], rho: float) -> SparseDiffusionPolicy:
    """The same trained pruner moved to another sparsity target by its compute-logit offset alone."""
    if not isinstance(policy.planner, PrunerPlanner):
        raise ValueError(f"recalibration needs a pruner planner, the policy has {policy.planner.name!r}")
    pruner = policy.planner.pruner
    offset = calibration_offset(policy, pruner, acts_after_the_first(trajectories), rho)
    return policy.with_planner(PrunerPlanner(pruner, offset))


def frozen(policy: SparseDiffusionPolicy, trajectories: list[np.ndarray]) -> tuple[SparseDiffusionPolicy, FreezeReport]:
    """The policy's planner frozen into its modal plan over every act after the first of ``trajectories``."""
    memories = encoded(policy, acts_after_the_first(trajectories))
    planner, report = freeze(policy.planner, memories, policy.config.backbone.n_blocks)
    return policy.with_planner(planner), report


def trajectories_digest(trajectories: list[np.ndarray]) -> str:
    """A digest of the recorded observation windows, so cached references follow the rollouts they came from."""
    digest = hashlib.sha256()
    for windows in trajectories:
        digest.update(np.ascontiguousarray(windows, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


class PrunerTrainer:
    def __init__(self, policy: SparseDiffusionPolicy, trajectories: list[np.ndarray], config: PrunerTrainConfig,
                 run_dir: str | os.PathLike, warm_start: PrunerPlanner | FixedPlanner | None = None) -> None:
        """``warm_start``: a trained pruner or static plan to start from (see ``start_from``) instead of
        ``config.init_plan``'s plan, which is then searched only if the warm start brings no table of its own."""
        self.policy = policy
        self.config = config
        self.run_dir = Path(run_dir)
        self.sampler = policy.sampler
        self.executor = policy.executor  # the policy holds the backbone frozen (eval, no grad)
        backbone = policy.config.backbone
        torch.manual_seed(config.seed)
        prior_steps = 0 if config.init_plan == "none" else self.sampler.num_steps
        self.pruner = Pruner(PrunerConfig(config.strategy, backbone.n_blocks, backbone.n_emb, config.width,
                                          config.n_head, config.ffn_mult, n_steps=prior_steps))
        self.decisions = self.pruner.config.decisions
        held_out = config.validation_rollouts
        if held_out and held_out >= len(trajectories):
            raise ValueError(f"{held_out} validation rollouts leave none of the {len(trajectories)} recorded "
                             "to train on")
        training = trajectories[:len(trajectories) - held_out]
        # held-out rollouts keep their index in the file: a (rollout, act) names one reference everywhere
        self.trajectories = trajectories
        self.validation = {i: trajectories[i] for i in range(len(training), len(trajectories))}
        self.lanes = RolloutLanes(training, min(config.lanes, len(training)), config.batch_size,
                                  config.segment_frames, config.seed)
        self.planned_windows = acts_after_the_first(training)
        # what the references depend on besides the acts (hashing the weights once, not per save): runs
        # of any rho or init on the same policy, rollouts and seed share them (copy references.pt over)
        self.references_key = json.dumps([policy.weights_digest(), policy.config.to_dict()["sampler"],
                                          policy.config.inference_choices(), config.seed,
                                          trajectories_digest(trajectories)])
        if prior_steps and not self.brings_prior(warm_start):
            self.pruner.start_from_plan(self.starting_plan(policy))
        # Adam moves every parameter by about its learning rate per step: a shared head at the network's
        # rate would flip every decision at once, so the per-decision prior gets its own, larger rate
        prior = [p for name, p in self.pruner.named_parameters() if name == "prior"]
        network = [p for name, p in self.pruner.named_parameters() if name != "prior"]
        groups = [{"params": network, "lr": config.learning_rate}]
        if prior:
            groups.append({"params": prior, "lr": config.prior_learning_rate, "weight_decay": 0.0})
        self.optimizer = torch.optim.AdamW(groups)
        self.average: EMA | None = None
        self.mark_start()
        if warm_start is not None:
            self.start_from(warm_start)
        horizon_weights = policy.executed_action_weights() if config.executed_weighting \
            else np.full(policy.config.backbone.horizon, 1.0 / policy.config.backbone.horizon)
        self.action_weights = torch.as_tensor(horizon_weights, dtype=torch.float32)
        self.references: dict[tuple[int, int], torch.Tensor] = {}  # (rollout, frame) -> its dense chunk
        self._saved_references = 0
        self.pool: ResidualCache | None = None  # R of every lane's current rollout; None: every lane restarts
        self.epoch, self.batch_index, self.history = 0, 0, []
        self.load_references()

    def starting_plan(self, policy: SparseDiffusionPolicy) -> np.ndarray:
        """The static plan the prior table starts at, kept in the run folder: searching it (``best``
        runs every family's plan) costs minutes on DDPM-100, and a resumed run needs it again."""
        path = self.run_dir / START_PLAN_FILE
        key = json.dumps([self.references_key, self.config.init_plan, self.config.rho, self.config.calibration_windows])
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved["key"] == key:
                return saved["plan"].numpy()
        windows = spread(self.planned_windows, self.config.calibration_windows)
        plan = static_plan(policy, windows, self.config.rho, self.config.init_plan)
        save_torch({"key": key, "plan": torch.from_numpy(plan)}, path)
        return plan

    def brings_prior(self, planner: PrunerPlanner | FixedPlanner | None) -> bool:
        """Whether a warm start sets the whole prior table: a static plan, or a pruner of this step count."""
        return isinstance(planner, FixedPlanner) or (
            isinstance(planner, PrunerPlanner) and planner.pruner.config.n_steps == self.sampler.num_steps)

    def start_from(self, planner: PrunerPlanner | FixedPlanner) -> None:
        """Warm start from a trained pruner of the same shape (another sampler's, say), or from a static
        plan (a file of ``--static``, a frozen pruner) as the prior table; the offset is not taken: the
        trained pruner is calibrated afresh at the end."""
        if isinstance(planner, FixedPlanner):
            self.pruner.start_from_plan(planner.fixed)
            self.mark_start()
            return
        # the prior table is the static plan's: a pruner without one (or of another K) brings the rest
        same_shape = isinstance(planner, PrunerPlanner) and \
            replace(planner.pruner.config, n_steps=self.pruner.config.n_steps) == self.pruner.config
        if not same_shape:
            got = planner.pruner.config if isinstance(planner, PrunerPlanner) else planner.name
            raise ValueError(f"cannot start from {got}: expected a pruner with config {self.pruner.config}")
        weights = planner.pruner.state_dict()
        if planner.pruner.config.n_steps != self.pruner.config.n_steps:  # another K's table: keep this one's
            weights.pop("prior", None)
        self.pruner.load_state_dict(weights, strict=False)  # the configs match but for the table
        self.mark_start()

    def mark_start(self) -> None:
        """Training starts at the pruner's current weights (its static plan, or a warm start): they are
        kept for ``moved_from_start``, and the moving average starts there."""
        self.start_weights = copy.deepcopy(self.pruner.state_dict())
        if self.config.ema_decay:
            self.average = EMA(self.pruner, max_decay=self.config.ema_decay)

    @torch.no_grad()
    def moved_from_start(self, offset: float = 0.0, windows: int = 64) -> float:
        """Share of the free decisions (after step 0, every cache available, over ``windows`` of the
        training acts) that the trained pruner at compute ``offset`` plans otherwise than the pruner it
        started as: 0 at offset 0 means training changed no decision, only the calibration did."""
        start = Pruner(self.pruner.config)
        start.load_state_dict(self.start_weights)
        memory = self.policy.encode(spread(self.planned_windows, windows))
        valid = np.ones((len(memory), self.sampler.num_steps, self.pruner.config.n_blocks), bool)
        before = PrunerPlanner(start).plan(memory, valid)
        after = PrunerPlanner(copy.deepcopy(self.trained_pruner), offset).plan(memory, valid)
        return float((before != after)[:, 1:].mean())

    @property
    def trained_pruner(self) -> Pruner:
        """The pruner a run hands out: the moving average of its weights, or the last state without one."""
        return self.pruner if self.average is None else self.average.model

    @property
    def batches_per_epoch(self) -> int:
        return self.lanes.batches(self.epoch)

    def batches_before(self, epoch: int) -> int:
        return sum(self.lanes.batches(e) for e in range(epoch))

    # ------------------------------------------------------------------ one batch
    def act_noise(self, rollouts: np.ndarray, frames: np.ndarray) -> list[torch.Generator]:
        """One noise stream per recorded act, the same every epoch: its dense reference is computed once."""
        return [torch.Generator().manual_seed((self.config.seed << 40) + (int(r) << 20) + int(f))
                for r, f in zip(rollouts, frames)]

    def windows(self, rollouts: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Observation windows of recorded acts, training or held out."""
        return np.stack([self.trajectories[r][f] for r, f in zip(rollouts.tolist(), frames.tolist())])

    @torch.no_grad()
    def dense_references(self, rollouts: np.ndarray, frames: np.ndarray) -> torch.Tensor:
        """The dense chunks [N, Tp, Da] of those acts under their own noise, computed once."""
        keys = [(int(r), int(f)) for r, f in zip(rollouts, frames)]
        missing = sorted(set(keys) - self.references.keys())
        if missing:
            steps, blocks = self.sampler.num_steps, self.policy.config.backbone.n_blocks
            r, f = np.array(missing).T
            sample, noise = self.policy.draw_noise(len(missing), self.act_noise(r, f))
            memory = self.policy.encode(self.windows(r, f))
            chunks = self.executor.run(memory, dense_plan(len(missing), steps, blocks), sample, noise,
                                       ResidualCache(steps, blocks))
            self.references.update(zip(missing, chunks))
        return torch.stack([self.references[key] for key in keys])

    def fidelity(self, chunk: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """L1 per predicted action, weighted by how much of it is executed; mean over rows."""
        return executed_l1(chunk, reference, self.action_weights)

    @torch.no_grad()
    def validation_fidelity(self, sparse: SparseDiffusionPolicy) -> float:
        """Mean fidelity of ``sparse``'s hard plan over the held-out rollouts' acts after the first.

        Each rollout plays in order with its own rollout cache, every act under its recorded noise, so
        the score is deterministic and each dense reference is computed once for the whole run.
        """
        if not self.validation:
            raise ValueError("no held-out rollouts to score on: set validation_rollouts")
        steps, blocks = self.sampler.num_steps, self.policy.config.backbone.n_blocks
        scores = []
        for rollout, windows in self.validation.items():
            frames = np.arange(len(windows))
            references = self.dense_references(np.full(len(windows), rollout), frames)
            cache = ResidualCache(steps, blocks)
            cache.ensure_batch(1)
            for frame in frames:
                memory = sparse.encode(windows[frame:frame + 1])
                sample, noise = sparse.draw_noise(1, self.act_noise([rollout], [frame]))
                chunk = sparse.executor.run(memory, sparse.plan(memory, cache), sample, noise, cache)
                if frame:  # the first act is dense by rule: it only fills R
                    scores.append(self.fidelity(chunk, references[frame:frame + 1]).item())
        return float(np.mean(scores))

    def pick_gated_steps(self, rng: np.random.Generator) -> list[int] | None:
        steps = self.sampler.num_steps
        if not self.config.gated_steps or self.config.gated_steps >= steps - 1:
            return None
        return sorted(rng.choice(np.arange(1, steps), self.config.gated_steps, replace=False).tolist())

    def train_batch(self, epoch: int, index: int, rng: np.random.Generator) -> dict[str, float]:
        """Batch ``index`` of ``epoch``: its lanes' next acts, one optimiser step per act."""
        batch = self.lanes.batch_of(epoch, index)
        lanes, acts = batch.rollouts.shape
        steps, blocks = self.sampler.num_steps, self.policy.config.backbone.n_blocks
        carry = self.config.carry_rollout_cache
        if carry and (self.pool is None or index == 0):  # a new epoch deals new rollouts to every lane
            self.pool = ResidualCache(steps, blocks)
            self.pool.ensure_batch(self.lanes.lanes)
        cache = self.pool.subset(batch.lanes) if carry else ResidualCache(steps, blocks)
        free_target, metrics, dense_acts = 1.0 - self.config.rho, [], 0
        for a in range(acts):
            rollouts, frames = batch.rollouts[:, a], batch.frames[:, a]
            cache.reset(np.flatnonzero(frames == 0))
            fresh = cache.fresh_rows(lanes)  # no rollout history: the act is dense and fills R
            dense_acts += int(fresh.sum())
            with torch.no_grad():
                memory = self.policy.encode(self.lanes.windows(rollouts, frames))
                sample, noise = self.policy.draw_noise(lanes, self.act_noise(rollouts, frames))
                if fresh.all():
                    self.executor.run(memory, dense_plan(lanes, steps, blocks), sample, noise, cache)
                    continue
            sparse = torch.from_numpy(~fresh)
            references = self.dense_references(rollouts[~fresh], frames[~fresh])
            self.pruner.train()
            logits = self.pruner(memory)
            options = available_options(self.decisions, torch.from_numpy(cache.rollout_valid), torch.from_numpy(fresh))
            gates, _ = straight_through_gates(logits, options)  # fresh rows: compute only, no gradient
            gated = self.pick_gated_steps(rng)
            chunk = self.executor.run_gated(memory, gates, self.decisions, sample, noise, cache, gated_steps=gated)
            fidelity = self.fidelity(chunk[sparse], references)
            # straight-through: the value is the hard compute share of the whole plan (step 0 is dense by
            # rule), the gradient the softmax's, on the gated steps only, whose fidelity gradient it balances
            planned = gates[sparse]
            hard_share = planned.detach()[:, 1:, :, 0].mean()
            trained = planned[:, 1:, :, 0] if gated is None else planned[:, gated, :, 0]
            compute_share = hard_share + trained.mean() - trained.mean().detach()
            loss = fidelity + self.config.sparsity_weight * (compute_share - free_target).abs()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.pruner.parameters(), 1.0)
            self.optimizer.step()
            if self.average is not None:
                self.average.update(self.pruner)
            cache.detach_()
            metrics.append((fidelity.item(), hard_share.item(), 1.0 - hard_share.item()))
        if carry:
            self.pool.merge(batch.lanes, cache)
        fidelity, compute_share, reuse = np.mean(metrics, axis=0) if metrics else (np.nan,) * 3
        return {"fidelity_l1": float(fidelity), "compute_prob": float(compute_share), "free_sparsity": float(reuse),
                "dense_acts": dense_acts}

    # ------------------------------------------------------------------ loop, state
    @property
    def batches_done(self) -> int:
        return self.batches_before(self.epoch) + self.batch_index

    def train(self, progress: bool = True, max_batches: int | None = None, max_seconds: float | None = None,
              snapshot_every: int | None = None, on_snapshot: Callable[[], None] | None = None) -> list[dict]:
        """Train to ``config.epochs``; ``max_batches`` / ``max_seconds`` stop early (state is saved: resumable).

        ``on_snapshot`` is called whenever the run's batch count reaches a multiple of ``snapshot_every``.
        """
        total = self.batches_before(self.config.epochs)
        done = self.batches_done
        stop = total if max_batches is None else min(total, done + max_batches)
        bar = tqdm(total=total, initial=done, disable=not progress, desc=f"pruner {self.config.strategy}",
                   unit="batch", dynamic_ncols=True)
        start = time.perf_counter()
        while done < stop and (max_seconds is None or time.perf_counter() - start < max_seconds):
            rng = np.random.default_rng((self.config.seed, done))
            row = {"epoch": self.epoch, "batch": self.batch_index,
                   **self.train_batch(self.epoch, self.batch_index, rng),
                   "seconds": time.perf_counter() - start}
            self.history.append(row)
            bar.set_postfix(l1=f"{row['fidelity_l1']:.4f}", sparsity=f"{row['free_sparsity']:.3f}")
            bar.update(1)
            done += 1
            self.batch_index += 1
            if self.batch_index == self.batches_per_epoch:
                self.epoch, self.batch_index = self.epoch + 1, 0
            self.save_state()
            if snapshot_every and on_snapshot is not None and done % snapshot_every == 0:
                on_snapshot()
        bar.close()
        return self.history

    def save_state(self) -> None:
        state = {"config": self.config.to_dict(), "pruner": self.pruner.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "batch_index": self.batch_index,
                 "history": self.history, "start": self.start_weights}
        if self.average is not None:
            state["average"] = self.average.state_dict()
        save_torch(state, self.run_dir / STATE_FILE)
        write_csv(self.run_dir / LOG_FILE, self.history)
        if len(self.references) != self._saved_references:
            keys = sorted(self.references)
            save_torch({"key": self.references_key, "acts": torch.tensor(keys),
                        "chunks": torch.stack([self.references[key] for key in keys])},
                       self.run_dir / REFERENCES_FILE)
            self._saved_references = len(self.references)

    def try_resume(self) -> bool:
        path = self.run_dir / STATE_FILE
        if not path.is_file():
            return False
        state = torch.load(path, map_location="cpu", weights_only=True)
        # a run saved before a config field existed ran at that field's default
        saved = {**PrunerTrainConfig().to_dict(), **state["config"]}
        if json.loads(json.dumps(saved)) != json.loads(json.dumps(self.config.to_dict())):
            raise ValueError(f"{path} was written with another pruner config; use another --run-dir")
        self.pruner.load_state_dict(state["pruner"])
        self.start_weights = state.get("start", self.start_weights)  # a run saved without it: its static start
        if self.average is not None:
            self.average.load_state_dict(state["average"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.batch_index, self.history = int(state["epoch"]), int(state["batch_index"]), list(state["history"])
        return True

    def load_references(self) -> None:
        """Take the dense chunks cached in the run folder if they were made for this policy, sampler,
        inference choices, seed and rollouts; otherwise they are recomputed as needed."""
        references = self.run_dir / REFERENCES_FILE
        if references.is_file():
            cached = torch.load(references, map_location="cpu", weights_only=True)
            if cached["key"] == self.references_key and "acts" in cached:
                self.references = dict(zip(map(tuple, cached["acts"].tolist()), cached["chunks"]))
                self._saved_references = len(self.references)

    def calibrate(self) -> float:
        """Compute-logit offset that puts the trained pruner's reuse share on ``rho`` (see planners.learned)."""
        return calibration_offset(self.policy, self.trained_pruner, self.planned_windows, self.config.rho)

    def sparse_policy(self, calibrated: bool = True) -> SparseDiffusionPolicy:
        offset = self.calibrate() if calibrated else 0.0
        return self.policy.with_planner(PrunerPlanner(copy.deepcopy(self.trained_pruner), offset))
