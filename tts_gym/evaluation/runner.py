"""Rollouts of a policy in simulation: seeds in, per-episode results out.

Several environments can run side by side with one batched ``act()`` (``num_envs``); each slot
takes the next seed when its episode ends and resets only its own rollout state. The episode seed
seeds the env and the policy's noise for that env, so a seed yields the same episode whatever the
number of slots. With ``video_dir`` every episode is filmed to ``seed_<seed>.mp4``, its frames beside
the live plan of its slot.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from ..wrappers.record_video import RecordMaskVideo
from .metrics import EpisodeResult


def make_env(env_id: str, render: bool = False, **kwargs) -> gym.Env:
    """A project env by short name or id, or any registered Gymnasium id."""
    import tts_gym.envs  # importing registers the project's ids

    return tts_gym.envs.make_env(env_id, render_mode="rgb_array" if render else None, **kwargs)


def run_episodes(
    policy,
    env_id: str,
    seeds: Sequence[int],
    num_envs: int = 1,
    on_inference: Callable[[int, int, np.ndarray, float, float], None] | None = None,
    on_episode_end: Callable[[EpisodeResult], None] | None = None,
    progress: bool = True,
    env_kwargs: dict | None = None,
    video_dir: str | Path | None = None,
) -> list[EpisodeResult]:
    """Run one episode per seed; ``on_inference(slot, seed, obs_window, sparsity, ms)`` sees every inference."""
    if env_id is None:
        raise ValueError("no env to run: the policy records none (tts-gym eval takes --env; "
                         "tts-gym import-dp --env records one in an imported policy)")
    seeds = list(seeds)
    num_envs = max(1, min(num_envs, len(seeds)))
    filming = video_dir is not None
    envs = [make_env(env_id, render=filming, **(env_kwargs or {})) for _ in range(num_envs)]
    if filming:
        envs = [RecordMaskVideo(env, video_dir, name_by_seed=True) for env in envs]
    queue = iter(seeds)
    slots: list[EpisodeResult | None] = [None] * num_envs  # the episode each env is running
    obs = [None] * num_envs
    results: list[EpisodeResult] = []
    bar = tqdm(total=len(seeds), disable=not progress, desc=f"eval {env_id}", unit="episode", dynamic_ncols=True)
    policy.start(num_envs)

    def start(slot: int) -> bool:
        seed = next(queue, None)
        if seed is None:
            slots[slot] = None
            return False
        obs[slot], _ = envs[slot].reset(seed=int(seed))
        policy.reset([slot], seed=int(seed))  # the episode's noise follows its seed, not its slot
        slots[slot] = EpisodeResult(seed=int(seed), success=False, steps=0)
        return True

    try:
        for slot in range(num_envs):
            start(slot)
        while any(slot is not None for slot in slots):
            active = [s for s in range(num_envs) if slots[s] is not None]
            batch = np.stack([np.asarray(obs[s], np.float32) for s in active])
            actions = dict(zip(active, policy.act(batch, env_ids=active)))
            record = policy.last_inference
            if policy.last_act_inferred:
                for row, slot in enumerate(record.env_ids):
                    result = slots[slot]
                    result.act_ms.append(record.latency_ms["total"])
                    result.sparsity.append(float((record.plan[row] != 0).mean()))
                    if filming:
                        envs[slot].show_inference(record.plan[row], result.sparsity[-1], record.latency_ms["total"])
                    if on_inference is not None:
                        on_inference(int(slot), result.seed, record.obs_window[row], result.sparsity[-1],
                                     record.latency_ms["total"])
            for slot in active:
                obs[slot], _, terminated, truncated, info = envs[slot].step(actions[slot])
                result = slots[slot]
                result.steps += 1
                result.success = result.success or bool(info.get("success", False))
                if "num_tasks_completed" in info:
                    result.num_tasks = info.get("num_tasks")  # an env without it gets no p1..pN, not a KeyError
                    result.num_tasks_completed = int(info["num_tasks_completed"])
                    result.tasks_completed = list(info.get("tasks_completed", []))
                if terminated or truncated:
                    results.append(result)
                    if on_episode_end is not None:
                        on_episode_end(result)
                    bar.update(1)
                    bar.set_postfix(success=f"{np.mean([r.success for r in results]):.2f}")
                    start(slot)  # resets the slot's rollout state with the next episode's seed
    finally:
        bar.close()
        for env in envs:
            env.close()
    return results
