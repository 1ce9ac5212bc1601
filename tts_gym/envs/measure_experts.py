"""Measure scripted-expert success rates and environment speed.

    python -m tts_gym.envs.measure_experts --env kitchen --episodes 50 --noise 0.1
    python -m tts_gym.envs.measure_experts --env lift --episodes 50 --noise 0 --speed

Success is over seeds ``seed_start .. seed_start + episodes - 1`` (the same seeds collection uses).
``--speed`` also reports env steps/s with random actions, without and with ``rgb_array`` rendering of
every step.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np

SPEED_STEPS = 200  # steps timed without rendering
RENDER_SPEED_STEPS = 30  # steps timed with a render() per step


def expert_success(env_id: str, episodes: int, noise: float, seed_start: int = 0, noise_steps: float = 0.0) -> dict:
    """Run the expert on ``episodes`` seeds; returns success rate, lengths and where failures stopped."""
    import gymnasium as gym

    import tts_gym.envs
    from tts_gym.envs.experts import make_expert

    env = gym.make(tts_gym.envs.resolve_env_id(env_id))
    successes, lengths, failed_stages, failed_seeds = 0, [], Counter(), []
    start = time.perf_counter()
    try:
        for seed in range(seed_start, seed_start + episodes):
            obs, _ = env.reset(seed=seed)
            expert = make_expert(env, noise=noise, rng=np.random.default_rng(seed), noise_steps=noise_steps)
            expert.reset()
            steps, success = 0, False
            while True:
                obs, _, terminated, truncated, info = env.step(expert.act(obs))
                steps += 1
                success = success or bool(info["success"])
                if terminated or truncated:
                    break
            successes += success
            lengths.append(steps)
            if not success:
                failed_stages[expert.stage] += 1
                failed_seeds.append(seed)
    finally:
        env.close()
    return {
        "env": env_id,
        "episodes": episodes,
        "noise": noise,
        "noise_steps": noise_steps,
        "success_rate": successes / episodes,
        "successes": successes,
        "mean_length": float(np.mean(lengths)),
        "max_length": int(np.max(lengths)),
        "failed_seeds": failed_seeds,
        "failed_stages": dict(failed_stages),
        "seconds": time.perf_counter() - start,
    }


def env_speed(env_id: str, steps: int = SPEED_STEPS, render_steps: int = RENDER_SPEED_STEPS) -> dict:
    """Env steps per second with random actions: plain, and with a render() after every step."""
    import gymnasium as gym

    import tts_gym.envs

    result = {"env": env_id}
    for label, mode, count in (("steps_per_s", None, steps), ("steps_per_s_render", "rgb_array", render_steps)):
        env = gym.make(tts_gym.envs.resolve_env_id(env_id), render_mode=mode)
        env.reset(seed=0)
        env.action_space.seed(0)
        if mode is not None:
            env.render()  # the first frame creates the GL context; not timed
        start = time.perf_counter()
        for _ in range(count):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if mode is not None:
                env.render()
            if terminated or truncated:
                env.reset()
        result[label] = count / (time.perf_counter() - start)
        env.close()
    return result


def main(argv: list[str] | None = None) -> int:
    from tts_gym.envs.registration import SHORT_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, choices=sorted(SHORT_NAMES))
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--noise-steps", type=float, default=0.0, help="noise correlation time in env steps")
    parser.add_argument("--seed-start", type=int, default=0)
    parser.add_argument("--speed", action="store_true", help="also measure env steps/s (with/without rendering)")
    parser.add_argument("--speed-only", action="store_true", help="only measure env steps/s")
    args = parser.parse_args(argv)
    if not args.speed_only:
        print(json.dumps(expert_success(args.env, args.episodes, args.noise, args.seed_start, args.noise_steps)))
    if args.speed or args.speed_only:
        print(json.dumps(env_speed(args.env)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
