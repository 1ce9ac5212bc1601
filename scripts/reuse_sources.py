"""How well each cache stands in for the residual it replaces: F, T and R, and R moved along the
chunk by the actions executed since the act that wrote it, on one dense rollout.

For every block of every act after the first, the mean over tokens of ``|cached - computed| / |computed|``,
where ``computed`` is the block's residual in this act and ``cached`` what each reuse would read instead:
the same kind of block one layer down (F), the same block one step earlier (T), the same block and step
in the previous act (R), and that R shifted by the executed actions so that each token faces the one
predicted for the same time step (edge tokens repeat the last one).

    python scripts/reuse_sources.py --policy kitchen --sampler ddim --steps 16 --acts 40
"""
import argparse

import numpy as np
import torch

from tts_gym.backbone.config import BLOCKS_PER_LAYER
from tts_gym.evaluation.evaluate import TEST_SEED_START, load_variant
from tts_gym.sparsity.plan import Decision

SOURCES = ("F", "T", "R", "R shifted")


def record_residuals(policy, acts: int, seed: int) -> tuple[list[torch.Tensor], list[int]]:
    """Per inference, every residual [K, 3L, Tp, d] of a dense act, and the env steps since the previous one."""
    env = policy.make_env()
    obs, _ = env.reset(seed=seed)
    policy.reset(seed=seed)
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    residuals, gaps, since = [], [], 0
    while len(residuals) < acts:
        action = policy.act(obs)
        since += 1
        if policy.last_act_inferred:
            residuals.append(torch.stack([torch.stack([policy.cache.peek(Decision.REUSE_R, k, j)[0]
                                                       for j in range(blocks)]) for k in range(steps)]))
            gaps.append(since)
            since = 0
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return residuals, gaps


def relative_gaps(residuals: list[torch.Tensor], gaps: list[int]) -> dict[str, np.ndarray]:
    """Per source, the mean relative distance [K, 3L] over acts (T undefined at step 0, F in layer 0)."""
    steps, blocks, horizon, _ = residuals[0].shape
    totals = {name: np.zeros((steps, blocks)) for name in SOURCES}
    pairs = [(a, gaps[a]) for a in range(1, len(residuals)) if gaps[a] < horizon]
    if not pairs:
        raise SystemExit("need at least two acts less than a chunk apart")
    for a, shift in pairs:
        now, before = residuals[a], residuals[a - 1]
        scale = now.norm(dim=-1).mean(-1)
        candidates = {
            "F": torch.cat([now[:, :BLOCKS_PER_LAYER], now[:, :-BLOCKS_PER_LAYER]], 1),
            "T": torch.cat([now[:1], now[:-1]], 0),
            "R": before,
            "R shifted": torch.cat([before[:, :, shift:], before[:, :, -1:].expand(-1, -1, shift, -1)], 2),
        }
        for name, cached in candidates.items():
            totals[name] += ((cached - now).norm(dim=-1).mean(-1) / scale).numpy()
    result = {name: total / len(pairs) for name, total in totals.items()}
    result["T"][0] = np.nan
    result["F"][:, :BLOCKS_PER_LAYER] = np.nan
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="shipped name or checkpoint")
    parser.add_argument("--sampler", default=None, choices=["ddpm", "ddim", "dpm"])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--acts", type=int, default=40)
    parser.add_argument("--seed", type=int, default=TEST_SEED_START)
    args = parser.parse_args()
    torch.set_num_threads(1)
    policy = load_variant(args.policy, sampler=args.sampler, steps=args.steps)
    residuals, gaps = record_residuals(policy, args.acts, args.seed)
    result = relative_gaps(residuals, gaps)
    steps = residuals[0].shape[0]
    shown = sorted({0, 1, steps // 4, steps // 2, 3 * steps // 4, steps - 1})
    print(f"{len(residuals)} acts, {gaps[1:2] or gaps} env steps apart; relative distance to the computed residual")
    print("source      all   " + " ".join(f"k={k:<4d}" for k in shown))
    for name, table in result.items():
        cells = ("  -    " if np.isnan(table[k]).all() else f"{np.nanmean(table[k]):.3f}  " for k in shown)
        print(f"{name:10s} {np.nanmean(table):.3f} " + " ".join(cells))


if __name__ == "__main__":
    main()
