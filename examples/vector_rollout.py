"""Several environments served by one batched act(); each env's rollout cache resets on its own.

    python examples/vector_rollout.py --envs 4 --steps 200
"""
from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from tts_gym import SparseDiffusionPolicy
from tts_gym.envs import make_env
from tts_gym.evaluation.evaluate import TEST_SEED_START
from tts_gym.wrappers import TestTimeSparsityVector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="lift")
    parser.add_argument("--sparsity", type=float, default=None)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--max-steps", type=int, default=None, help="episode length (default: the env's)")
    args = parser.parse_args()

    policy = SparseDiffusionPolicy.from_pretrained(args.policy, sparsity=args.sparsity, seed=0)
    extra = {"max_episode_steps": args.max_steps} if args.max_steps else {}
    envs = gym.vector.SyncVectorEnv([lambda: make_env(policy.config.env_id, **extra) for _ in range(args.envs)])
    env = TestTimeSparsityVector(envs, policy)
    env.reset(seed=TEST_SEED_START)
    finished, successes, batched_ms = 0, 0, []
    for _ in range(args.steps):
        _, _, terminated, truncated, info = env.step()
        if info["tts"]["inferred"]:
            batched_ms.append(info["tts"]["latency_ms"]["total"])
        ended = np.logical_or(terminated, truncated)
        finished += int(ended.sum())
        successes += int(np.sum(np.asarray(info.get("success", np.zeros(args.envs)))[ended]))
    env.close()
    print(f"{args.envs} envs, {args.steps} steps: {finished} episodes ended ({successes} successful); "
          f"batched act median {np.median(batched_ms):.1f} ms for up to {args.envs} envs")


if __name__ == "__main__":
    main()
