"""Franka Kitchen with test-time sparsity: videos, mask records and a speed table.

    python examples/rollout_kitchen.py                       # 3 episodes, rho 0.90, DDIM-16
    python examples/rollout_kitchen.py --sparsity 0.95 --sampler ddim --steps 16
    python examples/rollout_kitchen.py --episodes 1 --max-steps 40 --no-video   # CI smoke run

Writes rollout_XXXX.mp4 (frame | live plan heatmap), rollout_XXXX.npz (plans) and masks.png to --out.
The default is the shipped Kitchen pruner that keeps the most of what the dense policy does (rho
0.90 on DDIM-16, 85% reuse), trained under the file's inference choices (temporal ensembling at
temperature 0.25): p1 / p2 / p3 1.00 / 1.00 / 0.02 against the dense 1.00 / 1.00 / 1.00 on the test
seeds (microwave and kettle, rarely the light switch); rho 0.80 and 0.95 keep less (BENCHMARKS.md,
"Kitchen: absolute joint targets"). ``--sparsity 0`` runs the dense policy, which completes all
four tasks.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

import tts_gym.envs  # noqa: F401  (registers the Kitchen ids)
from tts_gym import SparseDiffusionPolicy
from tts_gym.evaluation.cli import add_inference_arguments, inference_arguments
from tts_gym.evaluation.evaluate import TEST_SEED_START
from tts_gym.evaluation.latency import interleaved_latency
from tts_gym.wrappers import RecordMasks, RecordMaskVideo, TestTimeSparsity
from tts_gym.wrappers.render_masks import render_rollout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--sparsity", type=float, default=0.90, help="shipped pruner target; 0 for dense")
    parser.add_argument("--sampler", default="ddim", choices=["ddpm", "ddim"])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--seed-start", type=int, default=TEST_SEED_START)
    parser.add_argument("--max-steps", type=int, default=None, help="cut episodes short (smoke runs)")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--out", default="outputs/examples/kitchen")
    add_inference_arguments(parser)
    args = parser.parse_args()

    sparsity = args.sparsity or None
    policy = SparseDiffusionPolicy.from_pretrained("kitchen", sparsity=sparsity, sampler=args.sampler,
                                                   steps=args.steps, seed=0).with_inference(**inference_arguments(args))
    dense = SparseDiffusionPolicy.from_pretrained("kitchen", sampler=args.sampler, steps=args.steps, seed=0)
    out = Path(args.out)
    env = gym.make(policy.config.env_id, render_mode=None if args.no_video else "rgb_array",
                   **({"max_episode_steps": args.max_steps} if args.max_steps else {}))
    env = RecordMasks(TestTimeSparsity(env, policy), out)
    if not args.no_video:
        env = RecordMaskVideo(env, out)

    rows, windows = [], []
    for episode in range(args.episodes):
        seed = args.seed_start + episode
        env.reset(seed=seed)
        done, sparsities, latencies, info = False, [], [], {}
        while not done:
            *_, terminated, truncated, info = env.step()
            done = terminated or truncated
            if info["tts"]["inferred"]:
                sparsities.append(info["tts"]["sparsity"])
                latencies.append(info["tts"]["latency_ms"]["total"])
                windows.append(policy.last_inference.obs_window[0])
        steady = latencies[1:] or latencies
        rows.append((seed, info.get("num_tasks_completed", 0), np.mean(sparsities[1:] or sparsities),
                     np.median(steady)))
    env.close()

    speed = interleaved_latency({"sparse": policy, "dense": dense}, windows[: max(2, min(len(windows), 30))],
                                repeats=10 if args.max_steps else 30)
    speedup = speed["dense"]["median_ms"] / speed["sparse"]["median_ms"]
    print(f"\n{'seed':>8} {'tasks':>5} {'sparsity':>9} {'act ms':>8} {'Hz':>6}")
    for seed, tasks, mean_sparsity, ms in rows:
        print(f"{seed:>8} {tasks:>5} {mean_sparsity:>9.1%} {ms:>8.1f} {1000 / ms:>6.1f}")
    print(f"\ninterleaved medians: sparse {speed['sparse']['median_ms']:.1f} ms, dense "
          f"{speed['dense']['median_ms']:.1f} ms -> {speedup:.2f}x faster")
    first = sorted(out.glob("rollout_*.npz"))[-args.episodes]
    print(f"wrote {render_rollout(first, out / 'masks.png')} and the rollouts in {out}/")


if __name__ == "__main__":
    main()
