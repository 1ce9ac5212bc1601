"""Evaluate a policy variant on seeded episodes and write per-episode JSON lines plus a summary."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..policy.policy import SparseDiffusionPolicy
from .metrics import summarize
from .runner import run_episodes

KITCHEN_TASKS = 4


def load_variant(policy: str | os.PathLike, sparsity=None, sampler=None, steps=None, planner_file=None,
                 seed: int | None = 0) -> SparseDiffusionPolicy:
    """``from_pretrained`` (a shipped name or a checkpoint path), then an optional planner file,
    which brings the sampler it was trained for."""
    loaded = SparseDiffusionPolicy.from_pretrained(policy, sparsity=sparsity, sampler=sampler, steps=steps, seed=seed)
    return loaded.with_planner_file(planner_file) if planner_file else loaded


def evaluate(policy, env: str | None = None, episodes: int = 50, seed_start: int = 100_000, sparsity=None,
             sampler=None, steps=None, planner_file=None, num_envs: int = 1, out: Path | None = None,
             progress: bool = True) -> dict:
    """Episodes on seeds ``seed_start``...; each episode's policy noise is seeded by its episode seed."""
    if not isinstance(policy, SparseDiffusionPolicy):
        policy = load_variant(policy, sparsity, sampler, steps, planner_file)
    env_id = env or policy.config.env_id
    if env_id is None:
        raise ValueError("the policy records no env id; pass --env")
    lines = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        lines = open(out / "episodes.jsonl", "w")

    def write(result):
        if lines is not None:
            lines.write(json.dumps(result.to_json()) + "\n")
            lines.flush()

    try:
        results = run_episodes(policy, env_id, range(seed_start, seed_start + episodes), num_envs=num_envs,
                               on_episode_end=write, progress=progress)
    finally:
        if lines is not None:
            lines.close()
    summary = summarize(results, KITCHEN_TASKS if "Kitchen" in env_id else None)
    summary.update(env_id=env_id, sampler=policy.config.sampler.name, steps=policy.config.sampler.num_inference_steps,
                   planner=policy.planner.name, seed_start=seed_start)
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
