"""policy.act(obs) inside a plain robosuite loop: no wrapper, robosuite's own dict observations.

    python examples/own_loop.py --episodes 2
"""
from __future__ import annotations

import argparse

import numpy as np

import tts_gym.envs  # noqa: F401  (headless GL backend, before robosuite loads MuJoCo)
from tts_gym import SparseDiffusionPolicy
from tts_gym.evaluation.evaluate import TEST_SEED_START


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--sparsity", type=float, default=None, help="a shipped DDPM-100 pruner target, e.g. 0.9 (tts-gym zoo lists them)")
    parser.add_argument("--max-steps", type=int, default=400)
    args = parser.parse_args()

    import robosuite
    from robosuite.controllers import load_composite_controller_config

    env = robosuite.make(
        "Lift", robots="Panda", controller_configs=load_composite_controller_config(controller="BASIC"),
        has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False, control_freq=20,
        horizon=args.max_steps, reward_shaping=False,
    )
    policy = SparseDiffusionPolicy.from_pretrained("lift", sparsity=args.sparsity, seed=0)
    for episode in range(args.episodes):
        np.random.seed(TEST_SEED_START + episode)  # robosuite samples object placements from numpy's global RNG
        obs = env.reset()  # an OrderedDict; the policy reads the keys it was trained on
        policy.reset()
        success = False
        for step in range(args.max_steps):
            obs, reward, done, info = env.step(policy.act(obs))
            success = success or env._check_success()
            if done or success:
                break
        print(f"episode {episode}: success={success} after {step + 1} steps, "
              f"last act {policy.last_inference.latency_ms['total']:.1f} ms, sparsity {policy.last_inference.sparsity:.0%}")
    env.close()


if __name__ == "__main__":
    main()
