"""How many pruner-training batches this CPU gets per minute, before and after the cheap recipe.

``full`` is the plain trajectory-level step: every act recomputes its dense reference and
differentiates every denoising step (every block computed). ``cheap`` is the default recipe: each
segment's dense references computed once (fixed noise per segment; timed here after they are
cached, as from the second epoch on) and only ``--gated-steps`` random steps differentiated, the
others running the hard plan. Both start from the same static plan and are timed interleaved, batch
by batch, in one process.

    python benchmarks/pruner_training_speed.py --policy kitchen --rollouts outputs/rollouts/kitchen.h5 \
        --sampler ddpm --steps 100 --batches 3 --out outputs/bench/pruner_training_speed_ddpm100.json
"""
from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--rollouts", required=True)
    parser.add_argument("--sampler", default="ddpm")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rho", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=PrunerTrainConfig.batch_size)
    parser.add_argument("--segment-frames", type=int, default=8)
    parser.add_argument("--gated-steps", type=int, default=4)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per recipe")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    policy = load_variant(args.policy, sampler=args.sampler, steps=args.steps)
    trajectories = TrajectoryStore(args.rollouts).load()
    recipes = {"full": dict(gated_steps=0), "cheap": dict(gated_steps=args.gated_steps)}
    trainers, seconds = {}, {name: [] for name in recipes}
    with tempfile.TemporaryDirectory() as run_dir:
        for name, overrides in recipes.items():
            config = PrunerTrainConfig(rho=args.rho, batch_size=args.batch_size, segment_frames=args.segment_frames,
                                       **overrides)
            trainers[name] = PrunerTrainer(policy, trajectories, config, Path(run_dir) / name)
        picks = [np.arange(i * args.batch_size, (i + 1) * args.batch_size) for i in range(args.batches)]
        trainers["cheap"].dense_references(np.concatenate(picks))  # cached, as after the first epoch
        for i, pick in enumerate(picks):
            for name, trainer in trainers.items():
                if name == "full":
                    trainer.references.clear()  # every act recomputes its reference
                start = time.perf_counter()
                trainer.train_segment(pick, np.random.default_rng(i))
                seconds[name].append(time.perf_counter() - start)
    acts = args.batch_size * (args.segment_frames - 1)
    result = {"policy": args.policy, "sampler": f"{args.sampler}-{args.steps}", "batch_size": args.batch_size,
              "segment_frames": args.segment_frames, "gated_steps": args.gated_steps, "threads": torch.get_num_threads()}
    for name, times in seconds.items():
        median = float(np.median(times))
        result[name] = {"seconds_per_batch": median, "batches_per_minute": 60 / median,
                        "sparse_acts_per_minute": 60 * acts / median}
    result["speedup"] = result["full"]["seconds_per_batch"] / result["cheap"]["seconds_per_batch"]
    print(json.dumps(result, indent=2))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
