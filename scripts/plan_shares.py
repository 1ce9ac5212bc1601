"""Where a pruner reuses: reuse share per denoising step and decision shares, on recorded rollouts;
with --by-act, the sparse-vs-dense chunk L1 along the rollout (does a stale R cache grow the error?).

    python scripts/plan_shares.py --policy kitchen --planner tts_gym/zoo/kitchen_omni_ddpm100_rho0.90.pt \\
        --rollouts outputs/rollouts/kitchen300light.h5 [--by-act 3]
"""
import argparse

import numpy as np
import torch

from tts_gym import SparseDiffusionPolicy
from tts_gym.sparsity.cache import ResidualCache
from tts_gym.sparsity.plan import Decision, dense_plan
from tts_gym.sparsity.training.trajectories import TrajectoryStore


def plan_shares(policy, trajectories, rollouts: int = 8) -> None:
    windows = np.concatenate([t[1:20:3] for t in trajectories[:rollouts]])
    memory = policy.encode(windows)
    plan = policy.planner.plan(memory, np.ones(memory.shape[:2] + (policy.config.backbone.n_blocks,), bool))
    print(f"{len(windows)} windows; reuse per step:", " ".join(f"{r:.2f}" for r in (plan != 0).mean(axis=(0, 2))))
    print("decision shares:", {d.name: round(float((plan == d).mean()), 3) for d in Decision})


@torch.no_grad()
def gap_by_act(policy, trajectories, group: int = 5) -> None:
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    generator, rows = torch.Generator().manual_seed(0), {}
    for windows in trajectories:
        cache = ResidualCache(steps, blocks)
        cache.ensure_batch(1)
        for act, window in enumerate(windows):
            memory, draw = policy.encode(window[None]), policy.draw_noise(1, generator)
            plan = policy.plan(memory, cache)
            sparse = policy.executor.run(memory, plan, *draw, cache)
            if act:  # the first act is dense and fills R
                dense = policy.executor.run(memory, dense_plan(1, steps, blocks), *draw, ResidualCache(steps, blocks))
                rows.setdefault(act // group, []).append(
                    (float((sparse - dense).abs().mean()), float((plan == Decision.REUSE_R).mean())))
    for key in sorted(rows):
        l1, r_share = np.mean(rows[key], axis=0)
        print(f"acts {group * key:2d}-{group * key + group - 1:2d}: L1 {l1:.3f}, R share {r_share:.2f} ({len(rows[key])} acts)")


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
