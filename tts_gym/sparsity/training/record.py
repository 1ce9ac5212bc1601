"""``tts-gym record-rollouts``: rollouts of a policy, stored as the reference trajectories.

Only the observation windows of each act() are stored: the dense reference chunks are recomputed
during pruner training under the noise of each training step, for whichever sampler is trained.
With ``--planner`` the rollouts are the sparse policy's: the states a pruner leads the robot into
(a missed grasp it hovers over, say), where dense rollouts never go; training on them as well
teaches the pruner what the dense policy would do there, as DAgger does for imitation.
Resumable: seeds already in the file are skipped.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ...evaluation.cli import add_inference_arguments, inference_arguments
from ...evaluation.evaluate import load_variant
from ...evaluation.runner import run_episodes
from .trajectories import TrajectoryStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, help="dense policy: shipped name or checkpoint path")
    parser.add_argument("--out", required=True, help="trajectory file (.h5), appended to")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed-start", type=int, default=0, help="training seeds; keep them apart from test seeds")
    parser.add_argument("--sampler", default="ddim", choices=["ddpm", "ddim", "dpm"],
                        help="sampler of the rollouts (the windows barely depend on it; DDIM is ~6x faster)")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--planner", default=None, metavar="PLANNER_FILE",
                        help="record the rollouts of this sparse policy (its sampler) instead of the dense one's: "
                             "the states its pruner leads to, failed episodes included")
    add_inference_arguments(parser)  # record under the choices the pruner will run under
    parser.add_argument("--envs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    store = TrajectoryStore(args.out)
    done = set(store.seeds())
    seeds = [s for s in range(args.seed_start, args.seed_start + args.episodes) if s not in done]
    policy = load_variant(args.policy, sampler=args.sampler, steps=args.steps, planner_file=args.planner,
                          **inference_arguments(args))
    windows: dict[int, list[np.ndarray]] = {}

    def on_inference(slot, seed, window, sparsity, ms):
        windows.setdefault(seed, []).append(window)

    def on_episode_end(result):
        store.append(np.stack(windows.pop(result.seed)), result.seed, result.success, float(np.mean(result.sparsity)))

    results = run_episodes(policy, policy.config.env_id, seeds, num_envs=args.envs, on_inference=on_inference,
                           on_episode_end=on_episode_end)
    print(f"{args.out}: +{len(results)} rollouts ({sum(r.success for r in results)} successful), "
          f"{len(done) + len(results)} in total")
    return 0
