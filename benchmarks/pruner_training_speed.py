"""How many acts a pruner trains on per minute on this CPU, with the plain step and the cheap recipe.

``plain`` is the trajectory-level step as first written: every batch starts its rows with a dense
act (fills R), every act recomputes its dense reference and differentiates every denoising step
(every block computed). ``cheap`` is the default recipe of ``tts-gym train-pruner``: R carries
across batches (a dense act only where a rollout starts), each act's dense reference is computed
once (fixed noise per act; timed here after it is cached, as from the second epoch on) and only
``--gated-steps`` random steps are differentiated, the others running the hard plan. Both start
from the same static plan and play the same batches, each recipe in a fresh process, one after the
other on a quiet machine (in one process, the plain step's large autograd graphs leave the
allocator in a state that slows the cheap step by about 1.5x). Timed are the batches after every
lane has started its first rollout.

    python benchmarks/pruner_training_speed.py --policy can --rollouts outputs/rollouts/can.h5 \
        --sampler ddpm --steps 100 --batches 3 --threads 1 --out outputs/bench/pruner_training_speed_ddpm100.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tts_gym.evaluation.evaluate import load_variant
from tts_gym.files import write_json
from tts_gym.sparsity.training.config import PrunerTrainConfig
from tts_gym.sparsity.training.trainer import PrunerTrainer
from tts_gym.sparsity.training.trajectories import TrajectoryStore


def recipes(gated_steps: int) -> dict[str, dict]:
    return {"plain": dict(gated_steps=0, carry_rollout_cache=False),
            "cheap": dict(gated_steps=gated_steps, carry_rollout_cache=True)}


def time_recipe(args: argparse.Namespace) -> dict:
    """Seconds per batch and trained acts per minute of ``args.recipe`` once every lane is under way."""
    if args.threads:
        torch.set_num_threads(args.threads)
    policy = load_variant(args.policy, sampler=args.sampler, steps=args.steps)
    config = PrunerTrainConfig(rho=args.rho, batch_size=args.batch_size, segment_frames=args.segment_frames,
                               **recipes(args.gated_steps)[args.recipe])
    seconds, trained = [], 0  # trained: acts that took an optimiser step (not dense)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = PrunerTrainer(policy, TrajectoryStore(args.rollouts).load(), config, Path(run_dir))
        schedule = trainer.lanes.schedule(0)
        # the cheap recipe first plays, untimed, the batches until every lane has started a rollout
        warm = 1 + next(i for i in range(len(schedule))
                        if len(set(np.concatenate([b.lanes for b in schedule[:i + 1]]))) == trainer.lanes.lanes)
        timed = range(warm, min(len(schedule), warm + args.batches))
        if args.recipe == "cheap":  # its references cached, as from the second epoch on
            rollouts = np.concatenate([schedule[i].rollouts.ravel() for i in timed])
            frames = np.concatenate([schedule[i].frames.ravel() for i in timed])
            trainer.dense_references(rollouts[frames > 0], frames[frames > 0])
        played = timed if args.recipe == "plain" else range(timed.stop)  # plain batches start afresh anyway
        for index in played:
            if args.recipe == "plain":
                trainer.references.clear()  # every act recomputes its reference
            start = time.perf_counter()
            row = trainer.train_batch(0, index, np.random.default_rng(index))
            if index in timed:
                seconds.append(time.perf_counter() - start)
                trained += args.batch_size * args.segment_frames - row["dense_acts"]
    total = float(np.sum(seconds))
    return {"seconds_per_batch": total / len(seconds), "batches_per_minute": 60 * len(seconds) / total,
            "trained_acts_per_minute": 60 * trained / total, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--rollouts", required=True)
    parser.add_argument("--sampler", default="ddpm")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rho", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=PrunerTrainConfig.batch_size)
    parser.add_argument("--segment-frames", type=int, default=PrunerTrainConfig.segment_frames)
    parser.add_argument("--gated-steps", type=int, default=4)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per recipe")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--recipe", choices=list(recipes(0)), default=None,
                        help="time this one only, in this process (prints its figures, writes no --out)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.recipe:
        print(json.dumps(time_recipe(args)))
        return
    result = {"policy": args.policy, "sampler": f"{args.sampler}-{args.steps}", "batch_size": args.batch_size,
              "segment_frames": args.segment_frames, "gated_steps": args.gated_steps}
    for name in recipes(args.gated_steps):  # each in a fresh process: nothing one leaves slows the other
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--recipe", name], check=True,
                              capture_output=True, text=True)
        result[name] = json.loads(done.stdout.strip().splitlines()[-1])
    result["speedup"] = result["cheap"]["trained_acts_per_minute"] / result["plain"]["trained_acts_per_minute"]
    print(json.dumps(result, indent=2))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
