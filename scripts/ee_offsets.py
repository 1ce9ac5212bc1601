"""Where is the gripper when the expert would push? Expert and policy from the same handover state.

    python scripts/ee_offsets.py --policy outputs/policies/kitchen300light.pt --episodes 6

For each test seed the scripted expert (no noise) drives until it enters ``--stage``; from that
state the episode is played twice: by the expert to the end, and by the policy. Every ``--every``
steps it prints both grippers' offsets from ``--site`` (metres) and the light-switch joint, so a
policy that arrives beside the switch 6 cm too high shows as a ``dz`` the expert never has.
Kitchen only (the site and joint names are FrankaKitchen's).
"""
from __future__ import annotations

import argparse

import mujoco
import numpy as np

import tts_gym.envs
from tts_gym import SparseDiffusionPolicy
from tts_gym.envs.experts import make_expert
from tts_gym.envs.experts.kitchen import LIGHT_JOINT
from tts_gym.evaluation.evaluate import TEST_SEED_START


def play(env, policy, seed: int, stage: str, site: str, driver: str, horizon: int) -> tuple[list, list]:
    """One episode; the expert hands over to ``driver`` ("expert" or "policy") at ``stage``."""
    obs, info = env.reset(seed=seed)
    expert = make_expert(env, noise=0.0, rng=np.random.default_rng(seed))
    expert.reset()
    data = env.unwrapped.data
    site_id = mujoco.mj_name2id(env.unwrapped.model, mujoco.mjtObj.mjOBJ_SITE, site)
    origin, rows = None, []
    for step in range(horizon):
        if origin is None or driver == "expert":
            action = expert.act(obs)
            if origin is None and expert.stage == stage:
                origin = data.site_xpos[site_id].copy()
                policy.reset(seed=seed)
        if origin is not None and driver == "policy":
            action = policy.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        if origin is not None:
            offset = expert.arm.pose().position - origin
            rows.append((step, *offset, float(data.qpos[LIGHT_JOINT]), expert.stage if driver == "expert" else ""))
        if terminated or truncated:
            break
    return rows, list(info.get("tasks_completed", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--stage", default="light_approach", help="expert stage at which the policy takes over")
    parser.add_argument("--site", default="light_site", help="offsets are measured from this site")
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--seed-start", type=int, default=TEST_SEED_START)
    parser.add_argument("--every", type=int, default=6, help="print every this many steps")
    parser.add_argument("--rows", type=int, default=12, help="printed rows per episode")
    args = parser.parse_args()

    policy = SparseDiffusionPolicy.from_pretrained(args.policy, sampler="ddim", steps=16)
    env = tts_gym.envs.make_env(policy.config.env_id)
    horizon = env.spec.max_episode_steps
    try:
        for seed in range(args.seed_start, args.seed_start + args.episodes):
            expert_rows, expert_tasks = play(env, policy, seed, args.stage, args.site, "expert", horizon)
            policy_rows, policy_tasks = play(env, policy, seed, args.stage, args.site, "policy", horizon)
            print(f"seed {seed}: expert completes {expert_tasks}, policy {policy_tasks}")
            for e, p in list(zip(expert_rows, policy_rows))[: args.every * args.rows : args.every]:
                print(f"  t={e[0]:3d} expert dx={e[1]:+.3f} dy={e[2]:+.3f} dz={e[3]:+.3f} light={e[4]:+.2f} {e[5]:15s}"
                      f"| policy dx={p[1]:+.3f} dy={p[2]:+.3f} dz={p[3]:+.3f} light={p[4]:+.2f}", flush=True)
    finally:
        env.close()


if __name__ == "__main__":
    main()
