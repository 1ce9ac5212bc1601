"""Speed of the executor alone, on random-weight DP-T models of several widths.

For each width: dense DDPM-100 act() latency at batch 1, the same under a random plan of the given
sparsity (step 0 dense, reuse directions drawn uniformly among F / T / R), the floor (every block
reused after step 0), all interleaved in one process (medians), and FLOPs of each. Puts the CPU
figures beside the papers' model sizes (d=256 is DP-T's robomimic width; 768 a large DP-T).

    python benchmarks/speed_scaling.py --widths 128 256 768 --sparsity 0.95 --out outputs/bench/scaling.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from tts_gym import BackboneConfig, DiffusionTransformer, PolicyConfig, SamplerConfig, SparseDiffusionPolicy
from tts_gym.data import Normalizer
from tts_gym.evaluation.flops import count_inference_flops
from tts_gym.evaluation.latency import amdahl_limit, floor_compute_share, floor_planner, interleaved_latency
from tts_gym.sparsity import Decision, FixedPlanner, enforce_warmup


def random_policy(width: int, sampler: SamplerConfig, obs_dim=23, action_dim=7, horizon=10, n_obs_steps=2):
    config = PolicyConfig(BackboneConfig(action_dim, obs_dim, horizon, n_obs_steps, n_layer=8, n_head=4, n_emb=width,
                                         p_drop_attn=0.0), sampler, n_action_steps=8)
    rng = np.random.default_rng(0)
    normalizer = Normalizer.fit(obs=rng.normal(size=(100, obs_dim)), action=rng.uniform(-1, 1, (100, action_dim)))
    return SparseDiffusionPolicy(DiffusionTransformer(config.backbone), normalizer, config, seed=0)


def random_plan(policy, sparsity: float, seed: int = 0) -> np.ndarray:
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    rng = np.random.default_rng(seed)
    plan = rng.choice([Decision.REUSE_F, Decision.REUSE_T, Decision.REUSE_R], size=(1, steps, blocks)).astype(np.int8)
    plan[rng.random(plan.shape) >= sparsity] = Decision.COMPUTE
    return enforce_warmup(plan, np.zeros(1, bool))[0]


def measure(width: int, sparsity: float, sampler: SamplerConfig, repeats: int) -> dict:
    dense = random_policy(width, sampler)
    sparse = dense.with_planner(FixedPlanner(random_plan(dense, sparsity)))
    floor = dense.with_planner(floor_planner(dense))
    windows = [np.random.default_rng(i).normal(size=(2, 23)).astype(np.float32) for i in range(4)]
    stats = interleaved_latency({"dense": dense, "sparse": sparse, "floor": floor}, windows, repeats=repeats)
    flops = {}
    for name, policy in (("dense", dense), ("sparse", sparse), ("floor", floor)):
        policy.reset()
        policy.predict_action_chunk(windows[0])
        flops[name] = count_inference_flops(policy, windows[1]) / 1e9
    d, s, f = (stats[n]["median_ms"] for n in ("dense", "sparse", "floor"))
    return {"width": width, "sampler": sampler.name, "steps": sampler.num_inference_steps,
            "plan_sparsity": float(stats["sparse"]["sparsity"]), "dense_ms": d, "sparse_ms": s, "floor_ms": f,
            "dense_iqr_ms": stats["dense"]["iqr_ms"], "sparse_iqr_ms": stats["sparse"]["iqr_ms"],
            "speedup": d / s,
            "amdahl_limit": amdahl_limit(d, f, stats["sparse"]["sparsity"], floor_compute_share(dense.sampler.num_steps)),
            "gflops": flops, "flops_cut": 1 - flops["sparse"] / flops["dense"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 256, 768])
    parser.add_argument("--sparsity", type=float, default=0.95)
    parser.add_argument("--sampler", default="ddpm", choices=["ddpm", "ddim"])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="outputs/bench/scaling.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sampler = SamplerConfig(args.sampler, args.steps)
    rows = []
    for width in args.widths:
        rows.append(measure(width, args.sparsity, sampler, args.repeats))
        print(json.dumps(rows[-1]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
