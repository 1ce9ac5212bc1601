"""How does a Kitchen policy lose the light switch? Its gripper's path after the kettle, end to end.

    python scripts/light_switch_paths.py --policy kitchen --seed-start 200000 --episodes 24 \\
        --out outputs/diag/light_paths.jsonl --figure docs/light_switch_paths.png

Runs the policy (no expert) from reset, as ``tts-gym eval`` does, and records the end-effector
position relative to the light switch's site from the step the kettle counts. Each episode that
got that far and missed the switch is put in one of two classes:

* ``never in front``: the gripper never came within ``--reach`` of the expert's pre-push point
  (in front of the switch, on its +x side), e.g. it stood still after releasing the kettle;
* ``reached, missed``: it got there, then swept past the knob without turning it on; the line
  gives its height relative to the knob when it crossed it (the expert pushes at height 0).

Prints one JSON line per episode and the counts; the figure shows the paths from the front (x, z)
and from above (x, y), coloured by class. ``--demos F.hdf5`` prints, for comparison, the height
at which the demonstrations meet the knob (when the switch first moves), and runs nothing.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter

import matplotlib
import mujoco
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import tts_gym.envs  # noqa: E402,F401  (registers the envs)
from tts_gym.data.readers import read_env_args, read_robomimic  # noqa: E402
from tts_gym.envs.kitchen_env import DEFAULT_TASKS, END_EFFECTOR_SIZE, NUM_ROBOT_JOINTS, KitchenEnv  # noqa: E402
from tts_gym.envs.experts.kitchen import HANDLE_DEPTH, LIGHT_JOINT, LIGHT_SIDE_OFFSET, PRE_GRASP_BACKOFF  # noqa: E402
from tts_gym.envs.registration import KITCHEN_EE_ID, make_env  # noqa: E402
from tts_gym.evaluation.cli import add_inference_arguments, inference_arguments  # noqa: E402
from tts_gym.evaluation.evaluate import load_variant  # noqa: E402

LIGHT = "light switch"
KETTLE_TASKS = DEFAULT_TASKS.index(LIGHT)  # the tasks done before the switch (microwave, kettle)
EE_FEATURES = slice(-END_EFFECTOR_SIZE, None)  # KitchenEE-v0 appends the end-effector position
PRE_PUSH = np.array([LIGHT_SIDE_OFFSET, HANDLE_DEPTH - PRE_GRASP_BACKOFF, 0.0])  # relative to the switch site
# the switch's joint in the observation: the robot's joint velocities sit between robot and object positions
LIGHT_FEATURE = LIGHT_JOINT + NUM_ROBOT_JOINTS
SWITCH_MOVED = -0.02  # rad: the switch has been touched
COLOURS = {"done": "tab:blue", "never in front": "tab:orange", "reached, missed": "tab:red"}


def observes_end_effector(env) -> bool:
    return isinstance(env.unwrapped, KitchenEnv) and env.unwrapped.observes_end_effector


def switch_position(env) -> np.ndarray:
    model, data = env.unwrapped.model, env.unwrapped.data
    return data.site_xpos[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "light_site")].copy()


def demo_heights(path: str, switch: np.ndarray) -> np.ndarray:
    """Gripper height relative to the switch at the first step each demo moves it."""
    heights = []
    for episode in read_robomimic(path):
        touched = np.flatnonzero(episode.obs[:, LIGHT_FEATURE] < SWITCH_MOVED)
        if len(touched):
            heights.append(episode.obs[touched[0], EE_FEATURES][2] - switch[2])
    return np.asarray(heights)


def run_episode(env, policy, seed: int) -> dict:
    obs, _ = env.reset(seed=seed)
    policy.reset(seed=seed)
    switch = switch_position(env)
    path, tasks = [], []
    while True:
        obs, _, terminated, truncated, info = env.step(policy.act(obs))
        tasks = info["tasks_completed"]
        if len(tasks) >= KETTLE_TASKS:
            path.append((obs[EE_FEATURES] - switch).round(4).tolist())
        if terminated or truncated:
            return {"seed": seed, "tasks_completed": list(tasks), "path": path}


def classify(episode: dict, reach: float) -> dict:
    """Adds ``class`` (or none when the kettle was not done) and, for a miss, the crossing height."""
    path = np.asarray(episode["path"]).reshape(-1, 3)
    if len(episode["tasks_completed"]) < KETTLE_TASKS:
        return {**episode, "class": None}
    if LIGHT in episode["tasks_completed"]:
        return {**episode, "class": "done"}
    near = np.flatnonzero(np.linalg.norm(path - PRE_PUSH, axis=1) < reach)
    if len(near) == 0:
        return {**episode, "class": "never in front", "closest_m": float(np.linalg.norm(path - PRE_PUSH, axis=1).min())}
    after = path[near[0]:]
    crossing = np.flatnonzero(after[:, 0] < 0)
    height = float(after[crossing[0], 2]) if len(crossing) else None
    return {**episode, "class": "reached, missed", "crossing_height_m": height}


def draw(episodes: list[dict], title: str, out: str) -> None:
    fig, (front, top) = plt.subplots(1, 2, figsize=(11, 4.5))
    for episode in episodes:
        if episode["class"] is None:
            continue
        path = np.asarray(episode["path"]).reshape(-1, 3)
        colour = COLOURS[episode["class"]]
        front.plot(path[:, 0], path[:, 2], color=colour, lw=0.8, alpha=0.7)
        top.plot(path[:, 0], path[:, 1], color=colour, lw=0.8, alpha=0.7)
    for axis, (k, label) in ((front, (2, "z")), (top, (1, "y"))):
        axis.plot(0, 0, "k*", ms=12, label="switch knob")
        axis.plot(PRE_PUSH[0], PRE_PUSH[k], "ko", mfc="none", ms=9, label="expert's pre-push point")
        axis.set_xlabel("x relative to the switch (m)")
        axis.set_ylabel(f"{label} relative to the switch (m)")
        axis.set_xlim(-0.35, 0.3)
        axis.grid(alpha=0.3)
    front.set_ylim(-0.45, 0.35)
    top.set_ylim(-0.3, 0.15)
    counts = Counter(e["class"] for e in episodes if e["class"] is not None)
    for name, colour in COLOURS.items():
        front.plot([], [], color=colour, label=f"{name} ({counts.get(name, 0)})")
    front.legend(fontsize=8, loc="lower left")
    front.set_title("from the front")
    top.set_title("from above")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="kitchen", help="shipped name or checkpoint path")
    parser.add_argument("--sampler", default="ddim", help="sampler name, as for tts-gym eval")
    parser.add_argument("--steps", type=int, default=16, help="denoising steps of the sampler")
    add_inference_arguments(parser)
    parser.add_argument("--seed-start", type=int, default=200000, help="validation seeds by default")
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--reach", type=float, default=0.03, help="m from the pre-push point that counts as there")
    parser.add_argument("--out", default=None, help="JSON lines of the episodes (paths included)")
    parser.add_argument("--figure", default=None, help="PNG of the paths")
    parser.add_argument("--demos", default=None, help="HDF5 demos of a Kitchen env observing the end-effector: report their height at the knob instead")
    args = parser.parse_args()

    if args.demos:
        env_id = read_env_args(args.demos).get("env_id")
        env = make_env(env_id) if env_id else None
        if env is None or not observes_end_effector(env):
            parser.error(f"{args.demos} was recorded in {env_id}: no end-effector features")
        env.reset(seed=args.seed_start)
        heights = demo_heights(args.demos, switch_position(env))
        print(json.dumps({"demos": len(heights), "height_at_knob_m": {
            "mean": float(heights.mean()), "std": float(heights.std()), "min": float(heights.min()),
            "max": float(heights.max())}}))
        return

    policy = load_variant(args.policy, None, args.sampler, args.steps, **inference_arguments(args))
    env = make_env(policy.config.env_id)
    if not observes_end_effector(env):
        parser.error(f"{args.policy} observes {policy.config.env_id}; the paths need end-effector features "
                     f"(e.g. {KITCHEN_EE_ID})")
    episodes = []
    for seed in range(args.seed_start, args.seed_start + args.episodes):
        episode = classify(run_episode(env, policy, seed), args.reach)
        episodes.append(episode)
        print(json.dumps({k: v for k, v in episode.items() if k != "path"}), flush=True)
    print(json.dumps({"counts": Counter(str(e["class"]) for e in episodes)}))
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(e) + "\n" for e in episodes)
    if args.figure:
        draw(episodes, f"{args.policy}, {args.sampler}-{args.steps}: the gripper after the kettle", args.figure)


if __name__ == "__main__":
    main()
