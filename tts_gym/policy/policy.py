"""``SparseDiffusionPolicy``: a DP-T policy with test-time sparsity, for any simulator loop.

Per inference: encode the condition for all K steps in one call, plan all steps in one call,
move the plan to the host once, then run the decoder-only loop of the executor.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from .. import envs
from ..backbone.model import DiffusionTransformer
from ..backbone.sampler import Sampler, SamplerConfig
from ..data.normalizer import Normalizer
from ..sparsity.cache import ResidualCache
from ..sparsity.executor import PlanExecutor
from ..sparsity.plan import PLAN_DTYPE, enforce_warmup, sparsity
from ..sparsity.planners import DensePlanner, Planner, planner_from_state
from .checkpoint import (
    CheckpointError, load_checkpoint, load_planner_checkpoint, save_checkpoint, save_planner_checkpoint, weights_digest,
)
from .config import PolicyConfig
from .observation import ObservationError, flatten_observation
from .action_queue import ChunkQueue, TemporalEnsemble
from .rollout_state import RolloutState


@dataclass
class InferenceRecord:
    """What the last inference did: its plan, sparsity and where the time went."""

    plan: np.ndarray  # int8 [B, K, 3L]
    sparsity: float
    # encode, prune, decode, total; with overlapped planning "prune" is only the hand-off to the worker
    latency_ms: dict[str, float] = field(default_factory=dict)
    env_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    obs_window: np.ndarray | None = None  # [B, To, Do] the observations this inference saw


class SparseDiffusionPolicy:
    """A trained DP-T plus a planner (dense when none) and the per-rollout state of each env."""

    def __init__(
        self,
        model: DiffusionTransformer,
        normalizer: Normalizer,
        config: PolicyConfig,
        planner: Planner | None = None,
        seed: int | None = None,
        overlap_planning: bool = False,
    ) -> None:
        if model.config != config.backbone:
            raise ValueError(f"model config {model.config} differs from policy config {config.backbone}")
        for name in ("obs", "action"):
            if name not in normalizer:
                raise ValueError(f"normalizer has no {name!r} statistics")
        self.model = model.eval().requires_grad_(False)
        self.normalizer = normalizer
        self.config = config
        self.planner = planner or DensePlanner()
        self.sampler = Sampler(config.sampler)
        self.executor = PlanExecutor(self.model, self.sampler)
        with torch.no_grad():  # the model is frozen here: its time tokens depend on the sampler only
            self._time_tokens = self.model.encode_time_tokens(self.sampler.timesteps)
        self.cache = ResidualCache(self.sampler.num_steps, config.backbone.n_blocks)
        queue = (TemporalEnsemble(config.n_action_steps, config.ensemble_decay) if config.temporal_ensemble
                 else ChunkQueue(config.n_action_steps))
        self.state = RolloutState(config.backbone.n_obs_steps, queue)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.last_inference: InferenceRecord | None = None
        self.metadata: dict = {}  # recipe and results recorded in the checkpoint
        self.last_act_inferred = False  # whether the last act() ran an inference (else it popped the queue)
        # plan on a worker thread while the decoder runs step 0 (dense under every plan)
        self.overlap_planning = overlap_planning
        self._planning_worker: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ rollout lifecycle
    def make_env(self, **kwargs) -> gym.Env:
        """A new instance of the env this policy was trained on, ``gym.make(config.env_id, **kwargs)``
        (``max_episode_steps`` reaches the env's own horizon, see ``tts_gym.envs.make_env``)."""
        if self.config.env_id is None:
            raise ValueError("this policy records no env_id (its config.env_id is None): make its env with gym.make(ENV_ID)")
        return envs.make_env(self.config.env_id, **kwargs)

    def reset(self, env_ids=None, seed: int | list[int] | None = None) -> None:
        """Start a new rollout for all envs (or ``env_ids``): history, action queue and R cache.

        ``seed`` gives each reset env its own noise stream (an int seeds env i with ``seed + i``, as
        Gymnasium's vector envs do): the same seed then gives the same actions whether the env runs
        alone or in a batch, and whatever the other envs do.
        """
        self.state.reset(env_ids, seed)
        self.cache.reset(env_ids)

    def start(self, num_envs: int, seed: int | list[int] | None = None) -> None:
        """Reset everything and run ``num_envs`` environments from now on (needed before ``act(env_ids=)``)."""
        self.reset(seed=seed)
        self.state.bind(num_envs, self.config.backbone.obs_dim, self.config.backbone.action_dim)
        self.cache.ensure_batch(num_envs)

    def act(self, obs, generator: torch.Generator | None = None, env_ids=None) -> np.ndarray:
        """One action per env: ``[Da]`` for one observation, ``[B, Da]`` for a batch (vector envs).

        ``env_ids`` acts for some of the policy's environments only (``obs`` has one row per id),
        e.g. while others have finished their episodes; the rest keep their state untouched.
        """
        flat, batched, rows = self._rows_of(obs, env_ids)
        self.state.push(flat, rows)
        queue = self.state.queue
        needing = rows[queue.empty(rows)]
        self.last_act_inferred = bool(len(needing))
        if self.last_act_inferred:
            queue.fill(needing, self._infer(self.state.history[needing], needing, generator))
        actions = queue.pop(rows)
        return actions if batched else actions[0]

    def observe(self, obs, env_ids=None) -> None:
        """Record an observation without acting, while another controller (a teleoperator, a scripted
        expert) drives: a later ``act()`` then conditions on the real recent past, not on its first
        frame repeated as at the start of a rollout. Queued actions and the R cache are dropped: the
        env moved without them, so the next act is planned as a rollout's first."""
        flat, _, rows = self._rows_of(obs, env_ids)
        self.state.push(flat, rows)
        self.state.queue.clear(rows)
        self.cache.reset(rows)

    def _rows_of(self, obs, env_ids) -> tuple[np.ndarray, bool, np.ndarray]:
        """Checked observations, whether they were batched, and the env rows they belong to."""
        flat, batched = self._check_observation(obs)
        if env_ids is None:
            self.state.bind(len(flat), self.config.backbone.obs_dim, self.config.backbone.action_dim)
            self.cache.ensure_batch(len(flat))
            return flat, batched, np.arange(len(flat))
        rows = np.asarray(env_ids, dtype=int).reshape(-1)
        if self.state.num_envs is None or len(rows) != len(flat) or rows.min() < 0 or rows.max() >= self.state.num_envs:
            raise ValueError(
                f"env_ids {rows.tolist()} must index the {self.state.num_envs} environments the policy runs, "
                f"one per observation row ({len(flat)} rows)"
            )
        return flat, batched, rows

    def predict_action_chunk(self, obs_window, generator: torch.Generator | None = None) -> np.ndarray:
        """One inference on a window of To observations: ``[To, Do]`` -> ``[Ta, Da]`` (or batched).

        Uses and updates the rollout cache exactly as ``act()`` does when its queue runs out.
        """
        window = self._check_window(obs_window)
        batch = len(window)
        self.cache.ensure_batch(batch)
        actions = self._infer(window, np.arange(batch), generator)
        return actions if np.ndim(obs_window) == 3 else actions[0]

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        """Stable-Baselines3's ``predict``: ``episode_start`` marks envs whose episode just began."""
        if episode_start is not None:
            starts = np.flatnonzero(np.asarray(episode_start, dtype=bool).reshape(-1))
            if self.state.num_envs is not None and len(starts):
                self.reset(starts)
        return self.act(observation), state

    # ------------------------------------------------------------------ the pipeline's stages
    @torch.no_grad()
    def encode(self, windows: np.ndarray) -> torch.Tensor:
        """Raw observation windows [B, To, Do] -> decoder memory of every step [B, K, 1+To, d]."""
        obs = self.normalizer.normalize("obs", torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)))
        return self.model.encode_condition(obs, self.sampler.timesteps, self._time_tokens)

    def plan(self, memory: torch.Tensor, cache: ResidualCache) -> np.ndarray:
        """The planner's plan under the rules every method obeys: step 0 and a rollout's first act dense."""
        return self._plan(memory, cache.rollout_valid, cache.fresh_rows(len(memory)))

    def plan_in_background(self, memory: torch.Tensor, cache: ResidualCache) -> Callable[[], np.ndarray]:
        """Start ``plan`` on the worker thread; the returned callable waits for it (see PlanExecutor.run)."""
        if self._planning_worker is None:
            self._planning_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-planner")
        # a snapshot of the cache's validity: the decoder updates it while the worker plans
        return self._planning_worker.submit(self._plan, memory, cache.rollout_valid.copy(),
                                            cache.fresh_rows(len(memory))).result

    @torch.inference_mode()  # also on the worker thread: the mode is per thread
    def _plan(self, memory: torch.Tensor, rollout_valid: np.ndarray, fresh_rows: np.ndarray) -> np.ndarray:
        return enforce_warmup(self.planner.plan(memory, rollout_valid), fresh_rows)

    def executed_action_weights(self) -> np.ndarray:
        """Weights ``[Tp]`` of a predicted chunk's actions by how much each reaches the env under this
        policy's action queue (0 outside the executed ones, summing to 1): what a fidelity loss on
        the chunk should count."""
        weights = np.zeros(self.config.backbone.horizon)
        start = self.config.backbone.n_obs_steps - 1
        weights[start:start + self.config.n_action_steps] = self.state.queue.execution_shares()
        return weights

    def draw_noise(self, batch: int, generator: torch.Generator | list[torch.Generator] | None = None):
        """Initial sample x_T [B, Tp, Da] and, for stochastic samplers, per-step noise [K, B, Tp, Da],
        both at the config's temperature.

        ``generator`` is one stream for the batch or one per row (each row's noise then depends on
        its own stream only).
        """
        if isinstance(generator, (list, tuple)):
            if len(generator) != batch:
                raise ValueError(f"expected one generator per row ({batch}), got {len(generator)}")
            rows = [self.draw_noise(1, g) for g in generator]
            noise = torch.cat([n for _, n in rows], dim=1) if self.sampler.stochastic else None
            return torch.cat([x for x, _ in rows]), noise
        b = self.config.backbone
        shape = (batch, b.horizon, b.action_dim)
        sample = torch.randn(shape, generator=generator)
        noise = torch.randn((self.sampler.num_steps, *shape), generator=generator) if self.sampler.stochastic else None
        temperature = self.config.temperature
        if temperature != 1.0:  # in place; the default costs nothing per act
            sample.mul_(temperature)
            if noise is not None:
                noise.mul_(temperature)
        return sample, noise

    # inference mode, not just no_grad: no version counters or view tracking per op. A sparse act is
    # thousands of small ops, and this bookkeeping was ~10% of its time (~8% of a dense act)
    @torch.inference_mode()
    def _infer(self, window: np.ndarray, rows: np.ndarray, generator: torch.Generator | None) -> np.ndarray:
        t0 = time.perf_counter()
        if generator is None:  # an explicit generator, else the envs' own streams, else the policy's
            generator = self.state.generators(rows) or self.generator
        memory = self.encode(window)
        t1 = time.perf_counter()
        all_rows = self.cache.batch is not None and len(rows) == self.cache.batch
        cache = self.cache if all_rows else self.cache.subset(rows)
        overlap = self.overlap_planning and not isinstance(self.planner, DensePlanner)
        plan_source = self.plan_in_background(memory, cache) if overlap else self.plan(memory, cache)
        t2 = time.perf_counter()
        sample, noise = self.draw_noise(len(rows), generator)
        chunk = self.executor.run(memory, plan_source, sample, noise, cache)
        plan = plan_source() if overlap else plan_source
        if not all_rows:
            self.cache.merge(rows, cache)
        if not torch.isfinite(chunk).all():
            # far out-of-range observations overflow the network; never hand back NaN actions, and
            # drop what this act wrote to the rollout cache so the env's next act starts clean
            self.cache.reset(rows)
            scale = float(np.abs(self.normalizer.normalize("obs", window)).max())
            raise ObservationError(
                f"the policy produced non-finite actions: the observations are expected near the training "
                f"range (normalised to [-1, 1]) but reach {scale:.3g} after normalisation"
            )
        actions = self.normalizer.unnormalize("action", chunk)
        start = self.config.backbone.n_obs_steps - 1
        actions = actions[:, start : start + self.config.n_action_steps].numpy()
        t3 = time.perf_counter()
        self.last_inference = InferenceRecord(
            plan=plan.astype(PLAN_DTYPE, copy=False),
            sparsity=sparsity(plan),
            latency_ms={"encode": 1e3 * (t1 - t0), "prune": 1e3 * (t2 - t1), "decode": 1e3 * (t3 - t2),
                        "total": 1e3 * (t3 - t0)},
            env_ids=rows,
            obs_window=window.copy(),
        )
        return actions

    # ------------------------------------------------------------------ input checks
    def _check_observation(self, obs) -> tuple[np.ndarray, bool]:
        b = self.config.backbone
        return flatten_observation(obs, b.obs_dim, self.config.obs_keys)

    def _check_window(self, obs_window) -> np.ndarray:
        b = self.config.backbone
        array = np.asarray(obs_window) if not torch.is_tensor(obs_window) else obs_window.cpu().numpy()
        if array.ndim not in (2, 3) or array.shape[-2:] != (b.n_obs_steps, b.obs_dim):
            raise ObservationError(
                f"observation window must have shape [{b.n_obs_steps}, {b.obs_dim}] or "
                f"[B, {b.n_obs_steps}, {b.obs_dim}], got {list(array.shape)}"
            )
        flat, _ = flatten_observation(array.reshape(-1, b.obs_dim), b.obs_dim, ())
        return flat.reshape(-1, b.n_obs_steps, b.obs_dim)

    # ------------------------------------------------------------------ variants, save, load
    def with_planner(self, planner: Planner | None, sampler: SamplerConfig | None = None) -> "SparseDiffusionPolicy":
        """The same weights under another planner (and sampler), with a fresh rollout state."""
        config = self.config if sampler is None else replace(self.config, sampler=sampler)
        return self._variant(config, planner)

    def with_inference(self, action_steps: int | None = None, temperature: float | None = None,
                       temporal_ensemble: bool | None = None,
                       ensemble_decay: float | None = None) -> "SparseDiffusionPolicy":
        """The same weights and planner under other inference choices (``None`` keeps the current one):
        ``action_steps`` of each predicted chunk run before the next inference (fewer is more closed
        loop, at more acts per episode), or are averaged over with ``temporal_ensemble``;
        ``temperature`` scales the sampler's noise (see PolicyConfig)."""
        config = self.config.with_inference_choices(action_steps=action_steps, temperature=temperature,
                                                    temporal_ensemble=temporal_ensemble, ensemble_decay=ensemble_decay)
        return self._variant(config, self.planner)

    def _variant(self, config: PolicyConfig, planner: Planner | None) -> "SparseDiffusionPolicy":
        policy = SparseDiffusionPolicy(self.model, self.normalizer, config, planner,
                                       overlap_planning=self.overlap_planning)
        policy.generator = self.generator
        policy.metadata = dict(self.metadata)
        return policy

    def save(self, path: str | os.PathLike, metadata: dict | None = None, half: bool = False) -> Path:
        planner = None if isinstance(self.planner, DensePlanner) else (self.planner.name, self.planner.state())
        return save_checkpoint(
            path, config=self.config.to_dict(), model=self.model.state_dict(),
            normalizer=self.normalizer.state_dict(), planner=planner, metadata=metadata, half=half,
        )

    def save_planner(self, path: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Only the planner (e.g. a trained pruner), the sampler it was trained for and, in its metadata,
        the inference choices it was trained or calibrated under (a plan fits the chunks they give)."""
        backbone = self.config.to_dict()["backbone"]
        metadata = {**(metadata or {}), "inference": self.config.inference_choices()}
        return save_planner_checkpoint(path, planner=(self.planner.name, self.planner.state()),
                                       sampler=self.config.to_dict()["sampler"], backbone=backbone,
                                       weights=self.weights_digest(), metadata=metadata)

    def weights_digest(self) -> str:
        return weights_digest(self.model.state_dict(), self.normalizer.state_dict())

    def with_planner_file(self, path: str | os.PathLike) -> "SparseDiffusionPolicy":
        """These weights under a saved planner and its sampler; refuses a planner of other weights."""
        payload = load_planner_checkpoint(path, self.config.to_dict()["backbone"], self.weights_digest())
        planner = planner_from_state(payload["planner"]["name"], payload["planner"]["state"])
        policy = self.with_planner(planner, SamplerConfig(**payload["sampler"]))
        policy.metadata = {**self.metadata, "planner": payload.get("metadata", {})}
        return policy

    @classmethod
    def load(cls, path: str | os.PathLike, seed: int | None = None) -> "SparseDiffusionPolicy":
        payload = load_checkpoint(path)
        try:
            config = PolicyConfig.from_dict(payload["config"])
        except (ValueError, TypeError) as error:
            raise CheckpointError(f"{path}: invalid config: {error}") from error
        model = DiffusionTransformer(config.backbone)
        try:
            result = model.load_state_dict(payload["model"], strict=False)
        except RuntimeError as error:  # shape mismatches
            raise CheckpointError(f"{path}: weights do not fit the config {config.backbone}: {error}") from error
        if result.missing_keys or result.unexpected_keys:
            raise CheckpointError(
                f"{path}: weights do not fit the config: missing {result.missing_keys[:8]}, "
                f"unexpected {result.unexpected_keys[:8]}"
            )
        try:
            normalizer = Normalizer.from_state_dict(payload["normalizer"])
        except KeyError as error:
            raise CheckpointError(f"{path}: normalizer: {error}") from error
        planner = None
        if payload.get("planner"):
            planner = planner_from_state(payload["planner"]["name"], payload["planner"]["state"])
        policy = cls(model, normalizer, config, planner, seed=seed)
        policy.metadata = payload.get("metadata", {})
        return policy

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, sparsity: float | None = None,
                        sampler: str | None = None, steps: int | None = None,
                        seed: int | None = None, strategy: str | None = None) -> "SparseDiffusionPolicy":
        """A shipped policy by name (see ``tts_gym.pretrained()``) or a checkpoint path.

        ``sparsity`` picks the shipped pruner trained for that target and for ``sampler`` / ``steps``
        (DDPM-100 by default); ``sparsity=None`` is the dense policy, under ``sampler`` / ``steps``
        when given. ``strategy="frozen"`` picks, where shipped, that pruner's most frequent plan run
        as a static one (no pruner cost per act); ``strategy="tail"`` the static tail plan of that
        reuse (``best_tail_plan``: the last steps computed), ``strategy="interval"`` the interval plan
        (every block computed every N steps)."""
        from ..zoo import resolve  # the registry of shipped files

        policy_file, planner_file = resolve(name_or_path, sparsity=sparsity, sampler=sampler, steps=steps,
                                            strategy=strategy)
        return cls.from_files(policy_file, planner_file, sampler=sampler, steps=steps, seed=seed)

    @classmethod
    def from_files(cls, policy_file: str | os.PathLike, planner_file: str | os.PathLike | None = None,
                   sampler: str | None = None, steps: int | None = None,
                   seed: int | None = None) -> "SparseDiffusionPolicy":
        """What a shipped name resolves to: a policy file with its planner file (which brings the
        sampler it was trained for), or dense under ``sampler`` / ``steps`` when given."""
        policy = cls.load(policy_file, seed=seed)
        if planner_file is not None:
            return policy.with_planner_file(planner_file)
        if sampler is not None or steps is not None:
            current = policy.config.sampler
            config = SamplerConfig(sampler or current.name, steps or current.num_inference_steps)
            return policy.with_planner(None, config)
        return policy
