"""Policies shipped inside the package, listed in ``index.json`` with their recipe and results.

Each entry is one dense policy file plus, as variants, small planner files (trained pruners) for
a sampler, step count and target sparsity. Loading needs no network.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..evaluation.metrics import keeps_success
from ..sparsity.pruner import STRATEGIES

HERE = Path(__file__).resolve().parent
INDEX = HERE / "index.json"
DEFAULT_SAMPLER, DEFAULT_STEPS = "ddpm", 100
DEFAULT_STRATEGY = "omni"  # a variant is the learned pruner (TTS's omni-reuse) unless it says otherwise
FROZEN_STRATEGY = "frozen"  # a pruner's most frequent plan, run as a static one (train-pruner --freeze)
TAIL_STRATEGY = "tail"  # the static tail plan nearest dense at that reuse (train-pruner --static tail)
INTERVAL_STRATEGY = "interval"  # every block computed every N steps (train-pruner --static interval)
STATIC_STRATEGIES = {TAIL_STRATEGY: "tail plan", INTERVAL_STRATEGY: "interval plan"}  # -> how tables name them
VARIANT_STRATEGIES = (*STRATEGIES, FROZEN_STRATEGY, *STATIC_STRATEGIES)


def pretrained() -> dict[str, dict[str, Any]]:
    """Name -> entry (file, training recipe, measured results, variants) of every shipped policy."""
    if not INDEX.is_file():
        return {}
    return json.loads(INDEX.read_text())["policies"]


def resolve(name_or_path: str | os.PathLike, sparsity: float | None = None, sampler: str | None = None,
            steps: int | None = None, strategy: str | None = None) -> tuple[Path, Path | None]:
    """(policy file, planner file or None) for a shipped name and variant, or for a checkpoint path."""
    path = Path(name_or_path)
    if path.is_file():
        if sparsity is not None:
            raise ValueError("sparsity selects a shipped pruner; for a checkpoint path pass a planner file instead")
        return path, None
    entries = pretrained()
    name = str(name_or_path)
    if name not in entries:
        raise ValueError(f"no shipped policy or file named {name!r}; shipped: {sorted(entries)}")
    return variant_files(name, entries[name], sparsity, sampler, steps, strategy=strategy)


def variant_files(name: str, entry: dict, sparsity: float | None = None, sampler: str | None = None,
                  steps: int | None = None, root: Path = HERE, strategy: str | None = None) -> tuple[Path, Path | None]:
    """(policy file, planner file or None) of an index entry's variant, its files under ``root``."""
    if sparsity is None:
        if strategy is not None:
            raise ValueError(f"strategy {strategy!r} selects a shipped planner variant: give its sparsity too")
        return root / entry["file"], None
    variant = find_variant(name, entry, sparsity, sampler or DEFAULT_SAMPLER, steps or DEFAULT_STEPS, strategy)
    return root / entry["file"], root / variant["file"]


def variant_strategy(variant: dict) -> str:
    return variant.get("strategy", DEFAULT_STRATEGY)


def variant_key(variant: dict) -> tuple[float, str, int, str]:
    return variant["sparsity"], variant["sampler"], variant["steps"], variant_strategy(variant)


def find_variant(name: str, entry: dict, sparsity: float, sampler: str, steps: int,
                 strategy: str | None = None) -> dict:
    """The shipped planner variant of ``entry`` (an index entry) for this sparsity, sampler, step count
    and strategy (None: the learned pruner)."""
    key = (sparsity, sampler, steps, strategy or DEFAULT_STRATEGY)
    for variant in entry.get("variants", []):
        if variant_key(variant) == key:
            return variant
    shipped = [variant_key(v) for v in entry.get("variants", [])]
    raise ValueError(f"{name!r} has no variant {key}; shipped: {shipped} "
                     "(as (sparsity, sampler, steps, strategy); sparsity=None: the dense policy)")


def configurations(entry: dict) -> list[dict]:
    """An index entry's runs as ``{sparsity (None: dense), sampler, steps, results (None: not measured)}``:
    the dense runs by sampler, then the pruners, many-step samplers and low targets first."""
    dense = [{"sparsity": None, "sampler": results["sampler"], "steps": results["steps"], "results": results}
             for _, results in sorted((entry.get("results") or {}).items())]
    pruners = [{"sparsity": v["sparsity"], "sampler": v["sampler"], "steps": v["steps"],
                "strategy": variant_strategy(v), "results": v.get("results")}
               for v in sorted(entry.get("variants", []), key=lambda v: (-v["steps"], v["sparsity"]))]
    return dense + pruners


def computed_steps(configuration: dict) -> float:
    """What an act costs, in dense denoising steps: steps times the share of blocks computed.

    Eval runs batch several envs beside the simulators, so their act times do not rank
    configurations; the blocks computed do, as ``tts-gym bench``'s interleaved timings show.
    """
    return configuration["steps"] * (1.0 - (configuration.get("results") or {}).get("mean_sparsity", 0.0))


def fastest_keeping_success(entry: dict) -> dict | None:
    """The measured configuration of ``entry`` that computes least per act among those whose success
    reaches the lower end of the best dense run's 95% interval; None when no dense run is recorded."""
    measured = [c for c in configurations(entry) if c["results"]]
    dense = [c for c in measured if c["sparsity"] is None]
    if not dense:
        return None
    interval = max(dense, key=lambda c: c["results"]["success_rate"])["results"]["success_ci95"]
    return min((c for c in measured if keeps_success(c["results"]["success_rate"], interval)), key=computed_steps)
