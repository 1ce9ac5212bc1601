"""``tts-gym zoo``: the shipped policies and pruners with what was measured on them, as one table.

The figures come from ``index.json`` (written by ``python -m tts_gym.zoo.ship``), so the table is the
same one the README shows and cannot drift from the files it describes.
"""
from __future__ import annotations

import argparse
from typing import Any, Optional

from ..evaluation.metrics import task_level_keys
from . import pretrained

# No latency column: eval runs batch several envs beside the simulators, so its act() times are not a
# speed measurement (``tts-gym bench`` measures speed, batch 1, interleaved with dense).
HEADER = ("policy", "plan", "sampler", "reuse", "success (95% CI)", "episodes")


def _success(results: dict[str, Any]) -> str:
    """Success with its interval; multi-task envs first list their task levels (success is the last)."""
    low, high = results["success_ci95"]
    interval = f"{results['success_rate']:.2f} ({low:.2f}-{high:.2f})"
    levels = task_level_keys(results)
    if not levels:
        return interval
    return f"{levels[0]}-{levels[-1]} " + "".join(f"{results[level]:.2f} / " for level in levels[:-1]) + interval


def _sampler(run: dict[str, Any]) -> str:
    return f"{run['sampler'].upper()}-{run['steps']}"


def _row(name: str, plan: str, sampler: str, results: Optional[dict[str, Any]]) -> tuple[str, ...]:
    if not results:
        return (name, plan, sampler, "-", "not measured with the shipped settings", "-")
    reuse = f"{results.get('mean_sparsity', 0.0):.0%}"
    return (name, plan, sampler, reuse, _success(results), str(results["episodes"]))


def rows(entries: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per shipped file and sampler: the dense runs, then each pruner by sampler and target."""
    table = []
    for name, entry in entries.items():
        for _, results in sorted((entry.get("results") or {}).items()):
            table.append(_row(name, "dense", _sampler(results), results))
        for variant in sorted(entry.get("variants", []), key=lambda v: (-v["steps"], v["sparsity"])):
            table.append(_row(name, f"TTS rho {variant['sparsity']:.2f}", _sampler(variant), variant.get("results")))
    return table


def markdown(entries: dict[str, dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(entries)]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", default=None, help="only this shipped policy")


def run(args: argparse.Namespace) -> int:
    entries = pretrained()
    if args.policy is not None:
        if args.policy not in entries:
            raise SystemExit(f"no shipped policy {args.policy!r}; shipped: {sorted(entries)}")
        entries = {args.policy: entries[args.policy]}
    print(markdown(entries))
    return 0
