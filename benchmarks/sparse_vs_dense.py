"""Where a sparse policy departs from its dense policy, per action dimension, and what its plans reuse.

On held-out reference rollouts (in act order, so the rollout cache fills as in use), each act runs
dense and sparse under the same noise, and dense again under other noise (the policy's own spread).
Prints the mean absolute and signed gap per action dimension and the share of each decision.

    python benchmarks/sparse_vs_dense.py --policy outputs/policies/lift.pt \
        --planner outputs/pruners/v2/lift_ddim16_rho0.95.pt --rollouts outputs/rollouts/lift.h5 --first 250
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from tts_gym.evaluation.evaluate import load_variant
from tts_gym.sparsity import Decision
from tts_gym.sparsity.training.trajectories import TrajectoryStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--planner", required=True, help="planner file; dense runs under its sampler")
    parser.add_argument("--rollouts", required=True)
    parser.add_argument("--first", type=int, default=0, help="index of the first rollout used (keep it held out)")
    parser.add_argument("--count", type=int, default=12)
    args = parser.parse_args()

    sparse = load_variant(args.policy, planner_file=args.planner)
    dense = sparse.with_planner(None)
    gaps, spread, shares = [], [], []
    for rollout in TrajectoryStore(args.rollouts).load()[args.first: args.first + args.count]:
        sparse.reset(), dense.reset()
        for i, window in enumerate(rollout):
            noise = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
            reference = dense.predict_action_chunk(window, generator=noise(i))
            chunk = sparse.predict_action_chunk(window, generator=noise(i))
            other = dense.predict_action_chunk(window, generator=noise(10_000 + i))
            if i:  # the first act of a rollout is dense by rule
                gaps.append(chunk - reference)
                spread.append(other - reference)
                plan = sparse.last_inference.plan[0, 1:]
                shares.append([(plan == d).mean() for d in Decision])
    gaps, spread = np.array(gaps, np.float64), np.array(spread, np.float64)
    report = {
        "acts": len(gaps),
        "sparse_vs_dense_abs_per_dim": np.abs(gaps).mean((0, 1)).round(3).tolist(),
        "sparse_vs_dense_signed_per_dim": gaps.mean((0, 1)).round(3).tolist(),
        "dense_vs_dense_abs_per_dim": np.abs(spread).mean((0, 1)).round(3).tolist(),
        "decision_shares_after_step_0": dict(zip([d.name for d in Decision], np.mean(shares, 0).round(3).tolist())),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
