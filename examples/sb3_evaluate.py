"""Stable-Baselines3's evaluate_policy with a sparse diffusion policy on a vector env.

    python examples/sb3_evaluate.py --envs 2 --episodes 4
"""
from __future__ import annotations

import argparse


from tts_gym import SparseDiffusionPolicy
from tts_gym.envs import make_env
from tts_gym.evaluation.evaluate import TEST_SEED_START


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="lift")
    parser.add_argument("--sparsity", type=float, default=None)
    parser.add_argument("--envs", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args()

    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    policy = SparseDiffusionPolicy.from_pretrained(args.policy, sparsity=args.sparsity, seed=0)
    extra = {"max_episode_steps": args.max_steps} if args.max_steps else {}
    vec_env = make_vec_env(lambda: make_env(policy.config.env_id, **extra), n_envs=args.envs, seed=TEST_SEED_START)
    # predict(obs, state, episode_start, deterministic): episode_start resets those envs' rollout caches
    mean_reward, std_reward = evaluate_policy(policy, vec_env, n_eval_episodes=args.episodes)
    print(f"{policy.config.env_id}: mean reward {mean_reward:.2f} +/- {std_reward:.2f} over {args.episodes} episodes")


if __name__ == "__main__":
    main()
