"""Where a sparse policy departs from its dense policy, per action dimension, and what its plans reuse.

On held-out reference rollouts (in act order, so the rollout cache fills as in use), each act runs
dense and sparse under the same noise, and dense again under other noise (the policy's own spread):
``tts_gym.evaluation.fidelity.paired_fidelity``. Gaps are in normalised action units.

    python benchmarks/sparse_vs_dense.py --policy outputs/policies/lift.pt \
        --planner outputs/pruners/v2/lift_ddim16_rho0.95.pt --rollouts outputs/rollouts/lift.h5 --first 250
    python benchmarks/sparse_vs_dense.py --policy kitchen --method bac-0.90 --rollouts outputs/rollouts/kitchen.h5 \
        --first 29 --count 3 --acts 20   # a static plan of `tts-gym bench`, calibrated on the other rollouts
    python benchmarks/sparse_vs_dense.py --policy kitchen --method bac-0.50 --rhos 0.5 --sampler ddpm --steps 100 \
        --rollouts outputs/rollouts/kitchen.h5 --first 29 --count 3 --acts 20
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from tts_gym.backbone.sampler import SAMPLERS
from tts_gym.evaluation.bench import STATIC_RHOS, select_methods, standard_methods
from tts_gym.evaluation.evaluate import load_variant
from tts_gym.evaluation.fidelity import paired_fidelity
from tts_gym.sparsity.training.trajectories import TrajectoryStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True)
    plan = parser.add_mutually_exclusive_group(required=True)
    plan.add_argument("--planner", help="planner file; dense runs under its sampler")
    plan.add_argument("--method", help="a static method of `tts-gym bench` (interval-N, bac-RHO, l2c-RHO)")
    parser.add_argument("--rollouts", required=True)
    parser.add_argument("--first", type=int, default=0, help="index of the first rollout used (keep it held out)")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--acts", type=int, default=None, help="only the first N acts of each rollout")
    parser.add_argument("--rhos", type=float, nargs="+", default=STATIC_RHOS,
                        help="target reuse of the bac-RHO and l2c-RHO methods")
    parser.add_argument("--sampler", choices=SAMPLERS, default=None, help="with --method (default: the policy's)")
    parser.add_argument("--steps", type=int, default=None, help="with --method (default: the policy's)")
    args = parser.parse_args()
    rollouts = TrajectoryStore(args.rollouts).load()
    held_out = [windows[:args.acts] for windows in rollouts[args.first: args.first + args.count]]
    if args.planner:
        sparse = load_variant(args.policy, planner_file=args.planner)
    else:
        calibration = np.concatenate(rollouts[:args.first] + rollouts[args.first + args.count:])
        dense = load_variant(args.policy, sampler=args.sampler, steps=args.steps)
        sparse = select_methods(standard_methods(dense, calibration, rhos=args.rhos), [args.method])[0].build(dense)
    print(json.dumps(paired_fidelity(sparse, held_out), indent=2))


if __name__ == "__main__":
    main()
