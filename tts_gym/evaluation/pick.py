"""``tts-gym pick``: of several planner files, the one that keeps the most success on validation episodes.

Neighbouring training states of a pruner differ widely in closed-loop success, and no open-loop score
ranks them, so a state is chosen by episodes: every candidate runs the same validation seeds (and
per-episode noise); the highest success wins, a tie going to the candidate that reuses more.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..files import copy_file, write_json
from ..policy.policy import SparseDiffusionPolicy
from .cli import add_backend_arguments, add_inference_arguments, backend_arguments, inference_arguments
from .evaluate import VALIDATION_SEED_START, evaluate, load_variant

PICKS_FILE = "picks.json"


def best_of(rows: list[dict]) -> dict:
    """The row with the highest success rate; among equals, the most reuse, then the first given."""
    return max(rows, key=lambda row: (row["success_rate"], row["mean_sparsity"]))


def pick(policy: str | SparseDiffusionPolicy, candidates: list[str | Path], episodes: int = 30,
         seed_start: int = VALIDATION_SEED_START, results: Path | None = None, num_envs: int = 1,
         progress: bool = True, backend: str = "local", workers: int | None = None, **inference) -> tuple[dict, list[dict]]:
    """Evaluate every candidate planner file on the same seeds; returns the best row and all rows.
    With ``results``, each candidate's episodes go to ``results/<file stem>/`` (a rerun resumes) and the
    ranking to ``results/picks.json``."""
    paths = [Path(c) for c in candidates]
    if not paths:
        raise ValueError("pick needs at least one candidate planner file")
    stems = [path.stem for path in paths]
    if len(set(stems)) != len(stems):
        raise ValueError(f"candidates must have distinct file names (their episodes are kept by name), got {stems}")
    base = policy if isinstance(policy, SparseDiffusionPolicy) else load_variant(policy)
    rows = []
    for path in paths:
        variant = base.with_planner_file(path)
        summary = evaluate(variant, episodes=episodes, seed_start=seed_start, num_envs=num_envs,
                           out=results / path.stem if results else None, progress=progress, backend=backend,
                           workers=workers, **inference)
        rows.append({"planner": str(path), "success_rate": summary["success_rate"],
                     "success_ci95": summary["success_ci95"], "mean_sparsity": summary["mean_sparsity"],
                     "act_ms_median": summary["act_ms_median"]})
    best = best_of(rows)
    if results:
        write_json(results / PICKS_FILE, {"episodes": episodes, "seed_start": seed_start, "best": best["planner"],
                                          "candidates": rows})
    return best, rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("candidates", nargs="+", metavar="PLANNER_FILE",
                        help="planner files to compare (e.g. a run's snapshots: outputs/pruners/run_b*.pt)")
    parser.add_argument("--policy", required=True, help="shipped name or checkpoint path the planners run on")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed-start", type=int, default=VALIDATION_SEED_START,
                        help="validation seeds by default; the test seeds stay for the chosen file")
    add_inference_arguments(parser)
    parser.add_argument("--envs", type=int, default=1, help="environments stepped side by side (batched act)")
    add_backend_arguments(parser)
    parser.add_argument("--results", default=None, help="folder for each candidate's episodes and picks.json "
                                                        "(reruns resume)")
    parser.add_argument("--out", default=None, help="copy the chosen planner file here")


def run(args: argparse.Namespace) -> int:
    best, rows = pick(args.policy, args.candidates, episodes=args.episodes, seed_start=args.seed_start,
                      results=Path(args.results) if args.results else None, num_envs=args.envs,
                      **backend_arguments(args), **inference_arguments(args))
    print("| planner | reuse | success (95% CI) |\n|---|---|---|")
    for row in rows:
        low, high = row["success_ci95"]
        chosen = " (chosen)" if row is best else ""
        print(f"| {row['planner']}{chosen} | {row['mean_sparsity']:.1%} | {row['success_rate']:.2f} "
              f"({low:.2f}–{high:.2f}) |")
    if args.out:
        copy_file(best["planner"], args.out)
        print(f"wrote {args.out}: {best['planner']}")
    return 0
