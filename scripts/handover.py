"""Where does a policy lose the task? The scripted expert drives until it enters a stage, then the policy.

    python scripts/handover.py --policy kitchen --stage light_approach --episodes 20   # --env: the policy's own by default

Every episode starts like a test episode (seeds 100000+, per-seed perturbation); the expert (no
noise) runs until its stage machine enters ``--stage``, then the policy acts until the episode ends.
While the expert drives, the policy observes (``policy.observe``), so it takes over with the real
recent observations (``--fresh-history``: from the handover frame alone, repeated as at an episode's
start). Handing over at successive stages separates "the policy cannot do this sub-task from the
expert's own states" from "the policy arrives at this sub-task in states the expert never visited".
Prints one JSON line per episode and a summary line per task: how many episodes completed it.
``--trace I`` adds the observation entry ``I`` at every step after the handover to each episode's line
(``scripts/plot_traces.py`` draws them), e.g. 26, Kitchen's light-switch joint (17 in ``kitchen-positions``).
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Callable

import gymnasium as gym
import numpy as np

import tts_gym.envs
from tts_gym import SparseDiffusionPolicy
from tts_gym.envs.experts import make_expert
from tts_gym.evaluation.cli import add_inference_arguments, inference_arguments
from tts_gym.evaluation.evaluate import TEST_SEED_START, load_variant


def handover_episode(env, expert, policy: SparseDiffusionPolicy, stage: str, seed: int,
                     trace_index: int | None = None, taker: str = "policy",
                     after_step: Callable[[int], None] | None = None, fresh_history: bool = False,
                     delay: int = 0) -> dict:
    """One episode handed over at ``stage``, after the expert's first ``delay`` steps in it (which
    moves the policy's chunk boundaries against the stage). ``taker="expert"`` lets the expert go on
    instead (its own run from the same state); ``after_step(step)`` is called after every step from
    the handover on. The policy observes the expert's steps, so it takes over with the real recent
    observations; ``fresh_history`` starts it from the handover frame alone (repeated, as at an
    episode's start)."""
    if taker not in ("policy", "expert"):
        raise ValueError(f"taker must be 'policy' or 'expert', got {taker!r}")
    obs, info = env.reset(seed=seed)
    expert.reset()
    policy.reset(seed=seed)
    handover_step, tasks_at_handover, step, trace, steps_in_stage = None, [], 0, [], 0
    while True:
        if handover_step is None or taker == "expert":
            action = expert.act(obs)
            if handover_step is None and expert.stage == stage:
                steps_in_stage += 1
                if steps_in_stage > delay:
                    handover_step, tasks_at_handover = step, list(info.get("tasks_completed", []))
                    if fresh_history:
                        policy.reset(seed=seed)
        if handover_step is None and not fresh_history:
            policy.observe(obs)
        if handover_step is not None and taker == "policy":
            action = policy.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        if handover_step is not None:
            if trace_index is not None:
                trace.append(round(float(obs[trace_index]), 4))
            if after_step is not None:
                after_step(step)
        step += 1
        if terminated or truncated:
            break
    record = {
        "seed": seed,
        "handover_step": handover_step,
        "tasks_at_handover": tasks_at_handover,
        "tasks_completed": list(info.get("tasks_completed", [])),
        "success": bool(info.get("success", False)),
    }
    if trace_index is not None:
        record["trace"] = trace
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--env", default=None,
                        help="short name (kitchen, kitchen-ee, lift, ...) or env id; the policy's own by default")
    parser.add_argument("--stage", required=True, help="expert stage at which the policy takes over")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed-start", type=int, default=TEST_SEED_START)
    parser.add_argument("--sampler", default="ddim", help="sampler name, as for tts-gym eval")
    parser.add_argument("--steps", type=int, default=16, help="denoising steps of the sampler")
    add_inference_arguments(parser)
    parser.add_argument("--trace", type=int, default=None, metavar="I", help="record observation entry I after handover")
    parser.add_argument("--delay", type=int, default=0,
                        help="hand over after the expert's first N steps in the stage (shifts the chunk boundaries)")
    parser.add_argument("--fresh-history", action="store_true",
                        help="the policy starts from the handover frame alone, not the observations before it")
    args = parser.parse_args()

    policy = load_variant(args.policy, sampler=args.sampler, steps=args.steps, seed=None, **inference_arguments(args))
    env = gym.make(tts_gym.envs.resolve_env_id(args.env or policy.config.env_id))
    done_per_task: Counter = Counter()
    never_handed_over = 0
    try:
        for seed in range(args.seed_start, args.seed_start + args.episodes):
            expert = make_expert(env, noise=0.0, rng=np.random.default_rng(seed))
            record = handover_episode(env, expert, policy, args.stage, seed, args.trace,
                                      fresh_history=args.fresh_history, delay=args.delay)
            never_handed_over += record["handover_step"] is None
            done_per_task.update(record["tasks_completed"])
            print(json.dumps(record), flush=True)
    finally:
        env.close()
    summary = {"policy": args.policy, "stage": args.stage, "episodes": args.episodes,
               "never_handed_over": never_handed_over, "tasks_completed": dict(done_per_task)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
