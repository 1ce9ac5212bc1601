"""Does planning on a worker thread, beside the decoder's dense step 0, pay on this CPU?

For a shipped policy and its pruner: act() latency with the pruner run inline and with it overlapped
with step 0, interleaved in one process (medians), at each torch thread count asked for. Also the
stage times of the inline pipeline (encode, prune, decode) and whether both variants give the same
actions. Run it on an otherwise idle machine: the overlap needs a free core.

    python benchmarks/planning_overlap.py --policy lift --sparsity 0.90 --sampler ddim --steps 16 --threads 1 2 \
        --rollouts outputs/rollouts/lift.h5 --out outputs/bench/planning_overlap.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from tts_gym import SparseDiffusionPolicy
from tts_gym.files import write_json
from tts_gym.evaluation.latency import interleaved_latency
from tts_gym.sparsity.training.trajectories import TrajectoryStore


def stage_times(policy: SparseDiffusionPolicy, windows: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Median ms per pipeline stage over steady-state inferences (inline planning)."""
    policy.reset()
    policy.predict_action_chunk(windows[0])
    records = []
    for i in range(repeats):
        policy.predict_action_chunk(windows[i % len(windows)])
        records.append(policy.last_inference.latency_ms)
    return {stage: float(np.median([r[stage] for r in records])) for stage in records[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="lift")
    parser.add_argument("--sparsity", type=float, default=0.90)
    parser.add_argument("--sampler", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--rollouts", default=None,
                        help="trajectory file (tts-gym record-rollouts): real observation windows; else random")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    inline = SparseDiffusionPolicy.from_pretrained(args.policy, sparsity=args.sparsity, sampler=args.sampler,
                                                   steps=args.steps, seed=0)
    overlapped = inline.with_planner(inline.planner)
    overlapped.overlap_planning = True
    b = inline.config.backbone
    if args.rollouts:  # consecutive windows of one rollout: the rollout cache sees what it would in use
        windows = list(TrajectoryStore(args.rollouts).load()[0][1:9])
    else:
        windows = [np.random.default_rng(i).normal(0, 0.3, (b.n_obs_steps, b.obs_dim)).astype(np.float32)
                   for i in range(4)]
    results = {"policy": args.policy, "sparsity": args.sparsity, "sampler": inline.config.sampler.name,
               "steps": inline.sampler.num_steps, "by_threads": {}}
    for threads in args.threads:
        torch.set_num_threads(threads)
        latency = interleaved_latency({"inline": inline, "overlapped": overlapped}, windows, repeats=args.repeats)
        same = []
        for policy in (inline, overlapped):
            policy.reset()
            same.append(np.stack([policy.predict_action_chunk(w, generator=torch.Generator().manual_seed(i))
                                  for i, w in enumerate(windows * 3)]))
        results["by_threads"][threads] = {
            **latency, "stages_inline_ms": stage_times(inline, windows, args.repeats),
            "gain": latency["inline"]["median_ms"] / latency["overlapped"]["median_ms"],
            "same_actions": bool(np.array_equal(*same)),
        }
    print(json.dumps(results, indent=2))
    if args.out:
        write_json(args.out, results)


if __name__ == "__main__":
    main()
