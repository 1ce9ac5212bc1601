"""Evaluate a policy variant on seeded episodes and write per-episode JSON lines plus a summary."""
from __future__ import annotations

import functools
import os
from pathlib import Path

from ..files import write_json
from ..policy.policy import SparseDiffusionPolicy
from .episode_log import EpisodeLog, policy_identity
from .metrics import summarize
from .runner import run_episodes


def load_variant(policy: str | os.PathLike, sparsity=None, sampler=None, steps=None, planner_file=None,
                 seed: int | None = 0, strategy: str | None = None, **inference) -> SparseDiffusionPolicy:
    """``from_pretrained`` (a shipped name or a checkpoint path), then an optional planner file,
    which brings the sampler it was trained for, and the ``inference`` choices given (by the names
    of ``INFERENCE_CHOICES``; None keeps the file's)."""
    loaded = SparseDiffusionPolicy.from_pretrained(policy, sparsity=sparsity, sampler=sampler, steps=steps, seed=seed,
                                                   strategy=strategy)
    if planner_file:
        loaded = loaded.with_planner_file(planner_file)
    return loaded.with_inference(**inference)


TEST_SEED_START = 100_000  # test episodes start here; demonstrations use seeds from 0
VALIDATION_SEED_START = 200_000  # choices (inference settings, training states) are made on these
BACKENDS = ("local", "ray")


def episode_runner(backend: str = "local", workers: int | None = None):
    """:func:`run_episodes` on this machine, or its Ray counterpart over ``workers`` (docs/distributed.md).
    Ray is imported only when asked for: it is an optional extra."""
    if backend == "local":
        if workers is not None:
            raise ValueError("workers are Ray's: use the Ray backend (--backend ray) or leave workers out")
        return run_episodes
    if backend == "ray":
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        from .ray_backend import run_episodes_ray

        return functools.partial(run_episodes_ray, workers=workers)
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def evaluate(policy, env: str | None = None, episodes: int = 50, seed_start: int = TEST_SEED_START, sparsity=None,
             sampler=None, steps=None, planner_file=None, num_envs: int = 1, out: Path | None = None,
             progress: bool = True, max_episode_steps: int | None = None, video: Path | None = None,
             backend: str = "local", workers: int | None = None, strategy: str | None = None,
             **inference) -> dict:
    """Episodes on seeds ``seed_start``...; each episode's policy noise is seeded by its episode seed.
    With ``out``, episodes are recorded as they end and a rerun into ``out`` runs only the missing seeds.
    With ``video``, each episode run is filmed to ``video/seed_<seed>.mp4``. ``backend="ray"`` runs the
    episodes on ``workers`` Ray workers (:func:`episode_runner`). ``inference``: choices by the names
    of ``INFERENCE_CHOICES`` (e.g. ``temperature=0.5``; None keeps the policy's)."""
    run = episode_runner(backend, workers)
    if not isinstance(policy, SparseDiffusionPolicy):
        policy = load_variant(policy, sparsity, sampler, steps, planner_file, strategy=strategy)
    if any(value is not None for value in inference.values()):
        policy = policy.with_inference(**inference)
    env_id = env or policy.config.env_id
    if env_id is None:
        raise ValueError("the policy records no env id; pass --env")
    seeds = range(seed_start, seed_start + episodes)
    identity = {**policy_identity(policy, env_id), "max_episode_steps": max_episode_steps}
    log = EpisodeLog(out, identity) if out is not None else None
    recorded = log.recorded(seeds) if log else {}
    missing = [seed for seed in seeds if seed not in recorded]
    if recorded and progress:
        print(f"{out}: {len(recorded)} of {episodes} episodes already recorded"
              + ("; running the rest" if missing else ""))
    env_kwargs = {"max_episode_steps": max_episode_steps} if max_episode_steps else {}
    results = run(policy, env_id, missing, num_envs=num_envs, on_episode_end=log.append if log else None,
                  progress=progress, env_kwargs=env_kwargs, video_dir=video) if missing else []
    results = sorted([*recorded.values(), *results], key=lambda result: result.seed)
    summary = summarize(results)
    summary.update(env_id=env_id, sampler=policy.config.sampler.name, steps=policy.config.sampler.num_inference_steps,
                   planner=policy.planner.name, **policy.config.inference_choices(), seed_start=seed_start,
                   max_episode_steps=max_episode_steps)
    if out is not None:
        write_json(out / "summary.json", summary)
    return summary
