"""Where a pruner reuses: reuse share per denoising step and decision shares, on recorded rollouts;
with --by-act, the sparse-vs-dense chunk L1 along the rollout (does a stale R cache grow the error?).

    python scripts/plan_shares.py --policy kitchen --planner tts_gym/zoo/kitchen_omni_ddpm100_rho0.90.pt \\
        --rollouts outputs/rollouts/kitchen300light.h5 [--by-act 3]
"""
import argparse

import numpy as np
import torch

from tts_gym import SparseDiffusionPolicy
from tts_gym.evaluation.fidelity import paired_fidelity
from tts_gym.sparsity.plan import Decision
from tts_gym.sparsity.training.trajectories import TrajectoryStore


def plan_shares(policy, trajectories, rollouts: int = 8) -> None:
    windows = np.concatenate([t[1:20:3] for t in trajectories[:rollouts]])
    memory = policy.encode(windows)
    plan = policy.planner.plan(memory, np.ones(memory.shape[:2] + (policy.config.backbone.n_blocks,), bool))
    print(f"{len(windows)} windows; reuse per step:", " ".join(f"{r:.2f}" for r in (plan != 0).mean(axis=(0, 2))))
    print("decision shares:", {d.name: round(float((plan == d).mean()), 3) for d in Decision})


def gap_by_act(policy, trajectories, group: int = 5) -> None:
    by_act = paired_fidelity(policy, trajectories)["by_act_index"]
    for start in range(0, max(by_act) + 1, group):
        rows = [by_act[a] for a in range(start, start + group) if a in by_act]
        print(f"acts {start:2d}-{start + group - 1:2d}: L1 {np.mean([r['l1'] for r in rows]):.3f}, "
              f"R share after step 0 {np.mean([r['reuse_r'] for r in rows]):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="shipped name or checkpoint")
    parser.add_argument("--planner", required=True, help="pruner file")
    parser.add_argument("--rollouts", required=True, help="tts-gym record-rollouts file")
    parser.add_argument("--by-act", type=int, default=0, metavar="N", help="also the L1 along N rollouts")
    args = parser.parse_args()
    torch.set_num_threads(1)
    policy = SparseDiffusionPolicy.from_pretrained(args.policy).with_planner_file(args.planner)
    trajectories = TrajectoryStore(args.rollouts).load()
    plan_shares(policy, trajectories)
    if args.by_act:
        gap_by_act(policy, trajectories[:args.by_act])


if __name__ == "__main__":
    main()
