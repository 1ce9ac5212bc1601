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

from handover import handover_episode  # scripts/handover.py, beside this file


def offsets(env, policy, seed: int, stage: str, site: str, taker: str) -> tuple[list, list]:
    """Gripper offsets from ``site`` after every step from the handover on, and the tasks completed."""
    expert = make_expert(env, noise=0.0, rng=np.random.default_rng(seed))
    data = env.unwrapped.data
    site_id = mujoco.mj_name2id(env.unwrapped.model, mujoco.mjtObj.mjOBJ_SITE, site)
    rows, origin = [], []

    def record(step: int) -> None:
        if not origin:  # the site as the handover step left it (the switch moves only when pushed)
            origin.append(data.site_xpos[site_id].copy())
        offset = expert.arm.pose().position - origin[0]
        rows.append((step, *offset, float(data.qpos[LIGHT_JOINT]), expert.stage if taker == "expert" else ""))

    episode = handover_episode(env, expert, policy, stage, seed, taker=taker, after_step=record)
    return rows, episode["tasks_completed"]


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
    try:
        for seed in range(args.seed_start, args.seed_start + args.episodes):
            expert_rows, expert_tasks = offsets(env, policy, seed, args.stage, args.site, "expert")
            policy_rows, policy_tasks = offsets(env, policy, seed, args.stage, args.site, "policy")
            print(f"seed {seed}: expert completes {expert_tasks}, policy {policy_tasks}")
            for e, p in list(zip(expert_rows, policy_rows))[: args.every * args.rows : args.every]:
                print(f"  t={e[0]:3d} expert dx={e[1]:+.3f} dy={e[2]:+.3f} dz={e[3]:+.3f} light={e[4]:+.2f} {e[5]:15s}"
                      f"| policy dx={p[1]:+.3f} dy={p[2]:+.3f} dz={p[3]:+.3f} light={p[4]:+.2f}", flush=True)
    finally:
        env.close()


if __name__ == "__main__":
    main()
