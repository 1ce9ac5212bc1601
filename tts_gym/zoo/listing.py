"""``tts-gym zoo``: the shipped policies and pruners with what was measured on them, as one table.

The figures come from ``index.json`` (written by ``python -m tts_gym.zoo.ship``), so the table is the
same one the README shows and cannot drift from the files it describes.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

from ..evaluation.metrics import task_level_keys
from . import FROZEN_STRATEGY, STATIC_STRATEGIES, configurations, pretrained

# No latency column: eval runs batch several envs beside the simulators, so its act() times are not a
# speed measurement (``tts-gym bench`` measures speed, batch 1, interleaved with dense).
HEADER = ("policy", "plan", "sampler", "reuse", "success (95% CI)", "episodes")
# The README shows this table between these markers; ``tts-gym zoo --readme README.md`` rewrites it.
README_START, README_END = "<!-- zoo -->", "<!-- /zoo -->"


def _success(results: dict[str, Any]) -> str:
    """Success with its interval; multi-task envs first list their task levels (success is the last)."""
    low, high = results["success_ci95"]
    interval = f"{results['success_rate']:.2f} ({low:.2f}-{high:.2f})"
    levels = task_level_keys(results)
    if not levels:
        return interval
    return f"{levels[0]}-{levels[-1]} " + "".join(f"{results[level]:.2f} / " for level in levels[:-1]) + interval


def plan_name(run: dict[str, Any]) -> str:
    """A configuration's plan (``tts_gym.zoo.configurations``) as the table names it."""
    if run["sparsity"] is None:
        return "dense"
    if run.get("strategy") in STATIC_STRATEGIES:
        return f"{STATIC_STRATEGIES[run['strategy']]} rho {run['sparsity']:.2f}"
    name = f"TTS rho {run['sparsity']:.2f}"
    return f"{name}, frozen" if run.get("strategy") == FROZEN_STRATEGY else name


def sampler_name(run: dict[str, Any]) -> str:
    return f"{run['sampler'].upper()}-{run['steps']}"


def _row(name: str, plan: str, sampler: str, results: Optional[dict[str, Any]]) -> tuple[str, ...]:
    if not results:
        return (name, plan, sampler, "-", "not measured with the shipped settings", "-")
    reuse = f"{results.get('mean_sparsity', 0.0):.0%}"
    return (name, plan, sampler, reuse, _success(results), str(results["episodes"]))


def rows(entries: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per shipped file and sampler: the dense runs, then each pruner by sampler and target."""
    return [_row(name, plan_name(run), sampler_name(run), run["results"])
            for name, entry in entries.items() for run in configurations(entry)]


def markdown(entries: dict[str, dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(entries)]
    return "\n".join(lines)


def _readme_parts(text: str) -> tuple[str, str, str]:
    """(what comes before the start marker, the table, what comes after the end marker) of a README."""
    head, start, rest = text.partition(README_START)
    table, end, tail = rest.partition(README_END)
    if not (start and end):
        raise ValueError(f"no {README_START} ... {README_END} block")
    return head, table.strip(), tail


def readme_table(text: str) -> str:
    """The table between the zoo markers of ``text`` (a README)."""
    return _readme_parts(text)[1]


def with_readme_table(text: str, table: str) -> str:
    """``text`` with the block between the zoo markers replaced by ``table``."""
    head, _, tail = _readme_parts(text)
    return f"{head}{README_START}\n{table}\n{README_END}{tail}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", default=None, help="only this shipped policy")
    parser.add_argument("--readme", default=None, help=f"rewrite the table between {README_START} and "
                                                       f"{README_END} in this file instead of printing it")


def run(args: argparse.Namespace) -> int:
    entries = pretrained()
    if args.policy is not None:
        if args.readme:
            raise SystemExit("--readme shows every shipped policy; drop --policy")
        if args.policy not in entries:
            raise SystemExit(f"no shipped policy {args.policy!r}; shipped: {sorted(entries)}")
        entries = {args.policy: entries[args.policy]}
    if args.readme:
        path = Path(args.readme)
        path.write_text(with_readme_table(path.read_text(), markdown(entries)))
        print(f"rewrote the zoo table in {path}")
        return 0
    print(markdown(entries))
    return 0
