"""Where does a Square policy fail? The gripper's error when it closes, and how far the nut got.

    python scripts/square_grasps.py --policy square --episodes 12 [--sampler ddim --steps 16]

Runs the policy from reset, as ``tts-gym eval`` does, and prints one JSON line per episode: for
each time the policy closes the gripper (its gripper action turns positive), the end-effector's
offset from the nut's handle (cm) and its yaw error to a grasp across the handle (rad); then the
highest the nut was lifted above its resting height, its closest approach to the peg while
lifted, and success. A grasp the expert would make has both errors near zero (it closes within
1 cm and 0.05 rad). Works for a policy of either Square observation.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np

from tts_gym.envs.square_features import SquareGeometry
from tts_gym.evaluation.cli import add_inference_arguments, inference_arguments
from tts_gym.evaluation.evaluate import TEST_SEED_START, load_variant

GRIPPER_INDEX = 6
LIFTED = 0.03  # m above the nut's resting height: in the gripper, off the table


def run_episode(policy, env, geometry: SquareGeometry, seed: int) -> dict:
    obs, _ = env.reset(seed=seed)
    policy.reset(seed=seed)
    resting_height = geometry.nut()[2]
    closes, closed, highest, nearest_peg = [], False, 0.0, np.inf
    info, terminated, truncated = {"success": False}, False, False
    while not (terminated or truncated):
        action = policy.act(obs)
        closing = action[GRIPPER_INDEX] > 0
        if closing and not closed:
            offset = (geometry.eef() - geometry.handle()) * 100
            closes.append({"offset_cm": np.round(offset, 1).tolist(),
                           "yaw_error": round(float(geometry.grasp_yaw_error()), 2)})
        closed = closing
        obs, _, terminated, truncated, info = env.step(action)
        lift = float(geometry.nut()[2] - resting_height)
        highest = max(highest, lift)
        if lift > LIFTED:
            nearest_peg = min(nearest_peg, float(np.linalg.norm((geometry.nut() - geometry.peg())[:2])))
    return {"seed": seed, "success": bool(info["success"]), "closes": closes[:3], "highest_lift_m": round(highest, 3),
            "nearest_peg_m": None if np.isinf(nearest_peg) else round(nearest_peg, 3)}


def outcome(record: dict) -> str:
    if record["success"]:
        return "success"
    return "never lifted" if record["highest_lift_m"] < LIFTED else "lifted, not placed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="square", help="shipped name or checkpoint")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--seed-start", type=int, default=TEST_SEED_START)
    parser.add_argument("--sampler", default=None, choices=["ddpm", "ddim", "dpm"])
    parser.add_argument("--steps", type=int, default=None, help="denoising steps of the sampler")
    add_inference_arguments(parser)
    args = parser.parse_args()
    policy = load_variant(args.policy, sampler=args.sampler, steps=args.steps, **inference_arguments(args))
    env = policy.make_env()
    geometry = SquareGeometry(env.unwrapped.sim_env)
    counts = Counter()
    for seed in range(args.seed_start, args.seed_start + args.episodes):
        record = run_episode(policy, env, geometry, seed)
        counts[outcome(record)] += 1
        print(json.dumps(record), flush=True)
    print(json.dumps(dict(counts)))
    env.close()


if __name__ == "__main__":
    main()
