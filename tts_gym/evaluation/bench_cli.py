"""``tts-gym bench``: the table that decides whether test-time sparsity beats its anchors."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..zoo import HERE, pretrained
from ..sparsity.training.trajectories import TrajectoryStore
from ..backbone.sampler import SamplerConfig
from ..policy.checkpoint import read_planner_checkpoint
from .bench import STATIC_RHOS, run_bench, select_methods, standard_methods
from .frontier import fastest_keeping_success, plot_frontier
from .cli import add_backend_arguments, add_inference_arguments, backend_arguments, inference_arguments
from .evaluate import TEST_SEED_START, load_variant
from .runner import run_episodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", default="kitchen", help="shipped name or dense checkpoint path")
    parser.add_argument("--episodes", type=int, default=50, help="success episodes per method (0: speed only)")
    parser.add_argument("--envs", type=int, default=1,
                        help="environments stepped side by side for the success episodes (batched act)")
    add_backend_arguments(parser)
    parser.add_argument("--seed-start", type=int, default=TEST_SEED_START)
    parser.add_argument("--rollouts", default=None, help="trajectory file: windows for timing and BAC/L2C calibration")
    parser.add_argument("--pruner", action="append", default=[], metavar="NAME=FILE",
                        help="extra planner files to compare (shipped pruners are added automatically)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per method (median)")
    parser.add_argument("--max-steps", type=int, default=None, help="cap episode length (quick runs)")
    parser.add_argument("--methods", nargs="+", default=None, metavar="PATTERN",
                        help="run only these methods (shell patterns, e.g. dense 'tts-*'); results accumulate in --out")
    parser.add_argument("--rhos", type=float, nargs="+", default=list(STATIC_RHOS), metavar="RHO",
                        help="target reuse of the BAC and L2C rows (match them to a pruner's rho)")
    parser.add_argument("--quick", action="store_true", help="CI mode: few methods, 1 short episode, 5 repeats")
    parser.add_argument("--out", default="outputs/bench")
    parser.add_argument("--figure", default=None, metavar="PNG",
                        help="also draw the success-vs-speed frontier of the policy's rows here (e.g. docs/frontier_kitchen.png)")
    add_inference_arguments(parser)  # every method runs under the same choices


def shipped_pruners(name: str) -> dict[str, str]:
    entry = pretrained().get(name, {})
    return {f"{v.get('strategy', 'tts')}-{v['sampler']}{v['steps']}-{v['sparsity']:.2f}": str(HERE / v["file"])
            for v in entry.get("variants", [])}


def timing_windows(policy, rollouts: str | None, count: int = 30) -> tuple[list[np.ndarray], np.ndarray | None]:
    if rollouts:
        windows = np.concatenate(TrajectoryStore(rollouts).load())
        return list(windows[:count]), windows
    recorded: list[np.ndarray] = []
    quick = load_variant(str(policy), sampler="ddim", steps=16) if isinstance(policy, (str, Path)) else policy
    run_episodes(quick, quick.config.env_id, [0], progress=False, env_kwargs={"max_episode_steps": 8 * count},
                 on_inference=lambda slot, seed, window, s, ms: recorded.append(window))
    return recorded[:count], None


def run(args: argparse.Namespace) -> int:
    if args.quick:
        args.episodes, args.repeats, args.max_steps = min(args.episodes, 1), 5, args.max_steps or 24
    policy = load_variant(args.policy, **inference_arguments(args))
    windows, calibration = timing_windows(args.policy, args.rollouts, count=4 if args.quick else 30)
    pruners = shipped_pruners(str(args.policy))
    pruners.update(dict(item.split("=", 1) for item in args.pruner))
    if args.quick:
        pruners = dict(list(pruners.items())[:1])
    samplers = tuple(SamplerConfig(**read_planner_checkpoint(path)["sampler"]) for path in pruners.values())
    methods = select_methods(standard_methods(policy, calibration, rhos=tuple(args.rhos), quick=args.quick,
                                              pruner_files=pruners, samplers=tuple(dict.fromkeys(samplers))),
                             args.methods)
    name = Path(str(args.policy)).stem
    results = run_bench(policy, name, methods, windows, Path(args.out), episodes=args.episodes,
                        seed_start=args.seed_start, repeats=args.repeats, max_steps=args.max_steps,
                        num_envs=args.envs, **backend_arguments(args))
    print((Path(args.out) / "results.md").read_text())
    best = fastest_keeping_success([row for row in results.values() if row["policy"] == name])
    if best is not None:
        print(f"fastest keeping dense's success: {best['method']} ({best['speedup']:.1f}x, {best['success_rate']:.2f})")
    if args.figure:
        rows = [row for row in results.values() if row["policy"] == name]
        plot_frontier(rows, Path(args.figure), f"{name}: success vs act() speedup over dense "
                                               f"{policy.config.sampler.name.upper()}-{policy.sampler.num_steps}")
        print(f"wrote {args.figure}")
    return 0
