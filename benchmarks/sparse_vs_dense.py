"""Where a sparse policy departs from its dense policy, per action dimension, and what its plans reuse.

On held-out reference rollouts (in act order, so the rollout cache fills as in use), each act runs
dense and sparse under the same noise, and dense again under other noise (the policy's own spread):
``tts_gym.evaluation.fidelity.paired_fidelity``. Gaps are in normalised action units.

    python benchmarks/sparse_vs_dense.py --policy outputs/policies/lift.pt \
        --planner outputs/pruners/v2/lift_ddim16_rho0.95.pt --rollouts outputs/rollouts/lift.h5 --first 250
"""
from __future__ import annotations

import argparse
import json

from tts_gym.evaluation.evaluate import load_variant
from tts_gym.evaluation.fidelity import paired_fidelity
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
    rollouts = TrajectoryStore(args.rollouts).load()[args.first: args.first + args.count]
    print(json.dumps(paired_fidelity(sparse, rollouts), indent=2))


if __name__ == "__main__":
    main()
