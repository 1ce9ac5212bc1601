"""``tts-gym eval``: success, Kitchen's p1..p4 and act() latency of a policy over seeded episodes."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..policy.config import INFERENCE_CHOICES
from ..zoo import VARIANT_STRATEGIES
from .evaluate import BACKENDS, TEST_SEED_START, evaluate


# How each inference choice (INFERENCE_CHOICES) is given on the command line; the flag is its name.
INFERENCE_FLAGS = {
    "action_steps": dict(type=int, help="actions executed from each predicted chunk before the next act, or "
                                        "averaged over with --temporal-ensemble (default: the policy's)"),
    "temperature": dict(type=float, help="std of the sampler's noise; below 1 samples nearer the centre "
                                         "(default: the policy's)"),
    "temporal_ensemble": dict(action=argparse.BooleanOptionalAction,
                              help="infer every step and execute the weighted mean of the overlapping chunks' "
                                   "predictions (ACT's temporal ensembling; default: the policy's)"),
    "ensemble_decay": dict(type=float, help="weight exp(decay * i) of a chunk i inferences older than the newest "
                                            "(default: the policy's)"),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_inference_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per inference choice; each defaults to the policy's own."""
    for name in INFERENCE_CHOICES:
        parser.add_argument(_flag(name), default=None, **INFERENCE_FLAGS[name])


def inference_arguments(args: argparse.Namespace) -> dict:
    """The inference choices given on the command line (None: keep the policy's)."""
    return {name: getattr(args, name) for name in INFERENCE_CHOICES}


def inference_flag(name: str, value) -> str:
    """The command-line flag that sets inference choice ``name`` to ``value``."""
    if isinstance(value, bool):
        return _flag(name) if value else "--no-" + _flag(name)[2:]
    return f"{_flag(name)} {value}"


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the episodes run: this process, or Ray workers (docs/distributed.md)."""
    parser.add_argument("--backend", default="local", choices=BACKENDS,
                        help="ray: episodes as tasks on Ray workers, this machine's or RAY_ADDRESS's cluster "
                             '(pip install "tts_gym[ray]")')
    parser.add_argument("--workers", type=int, default=None,
                        help="Ray workers, each running --envs episodes side by side (default: the cluster's CPUs)")


def backend_arguments(args: argparse.Namespace) -> dict:
    return {"backend": args.backend, "workers": args.workers}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, help="shipped name (see tts_gym.pretrained()) or checkpoint path")
    parser.add_argument("--env", default=None, help="env short name or id (default: the policy's own)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed-start", type=int, default=TEST_SEED_START)
    parser.add_argument("--sparsity", type=float, default=None, help="shipped pruner variant (e.g. 0.95)")
    parser.add_argument("--strategy", default=None, choices=VARIANT_STRATEGIES,
                        help="of the --sparsity variant: omni, the learned pruner (default), frozen, its most "
                             "frequent plan run as a static one, or tail / interval, the static tail or evenly spaced plan, "
                             "where shipped")
    parser.add_argument("--sampler", default=None, choices=["ddpm", "ddim", "dpm"])
    parser.add_argument("--steps", type=int, default=None, help="denoising steps of the sampler")
    parser.add_argument("--planner", default=None, help="planner file (.pt) to run instead of a shipped variant")
    add_inference_arguments(parser)
    parser.add_argument("--envs", type=int, default=1, help="environments stepped side by side (batched act)")
    add_backend_arguments(parser)
    parser.add_argument("--max-episode-steps", type=int, default=None, help="cap episode length (default: the env's)")
    parser.add_argument("--out", default=None, help="folder for episodes.jsonl and summary.json (reruns resume)")
    parser.add_argument("--video", default=None, help="folder for one mp4 per episode (seed_<seed>.mp4), env beside plan")


def run(args: argparse.Namespace) -> int:
    summary = evaluate(
        args.policy, env=args.env, episodes=args.episodes, seed_start=args.seed_start, sparsity=args.sparsity,
        sampler=args.sampler, steps=args.steps, planner_file=args.planner, num_envs=args.envs,
        out=Path(args.out) if args.out else None, max_episode_steps=args.max_episode_steps, strategy=args.strategy,
        video=Path(args.video) if args.video else None, **backend_arguments(args), **inference_arguments(args),
    )
    print(json.dumps(summary, indent=2))
    return 0
