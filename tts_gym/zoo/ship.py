"""Copy a trained policy (fp16) or pruner into the package and record it in ``index.json``.

    python -m tts_gym.zoo.ship policy --name kitchen --file outputs/policies/kitchen.pt \\
        --recipe "tts-gym collect ...; tts-gym train ..." --results outputs/eval/kitchen_dense/summary.json \\
        [--action-steps 4] [--temperature 0.5]
    python -m tts_gym.zoo.ship pruner --name kitchen --file outputs/pruners/kitchen_ddpm100_095.pt \\
        --sparsity 0.95 --sampler ddpm --steps 100 --recipe "..." --results .../summary.json
    python -m tts_gym.zoo.ship results --name kitchen [--sparsity 0.95] --results .../summary.json
    python -m tts_gym.zoo.ship withdraw --name can --sparsity 0.90 --sampler ddim --steps 16
"""
from __future__ import annotations

import argparse
import json
import os
from contextlib import contextmanager
from pathlib import Path

from ..evaluation.cli import add_inference_arguments, inference_arguments, inference_flag
from ..evaluation.episode_log import IDENTITY_FILE, policy_identity
from ..policy.config import INFERENCE_CHOICES
from ..policy.policy import SparseDiffusionPolicy
from ..files import copy_file, write_json
from . import DEFAULT_STRATEGY, HERE, INDEX, VARIANT_STRATEGIES, find_variant, variant_files, variant_key

MAX_FILE_BYTES = 10 * 2**20


def _index() -> dict:
    return json.loads(INDEX.read_text()) if INDEX.is_file() else {"policies": {}}


def _results(path: str | None) -> dict | None:
    return json.loads(Path(path).read_text()) if path else None


@contextmanager
def _staged(target: Path):
    """A path beside ``target`` that replaces it only if the block completes: a file refused by
    a check never overwrites the shipped one, which the index and its pruners still refer to."""
    staging = target.with_name(f".{target.name}.staging")
    try:
        yield staging
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


def ship_policy(name: str, file: str, recipe: str, results: str | None, **inference) -> Path:
    """Store the policy (fp16) under ``name``, under the ``inference`` choices given (by the names of
    ``INFERENCE_CHOICES``, e.g. ``temperature=0.5``; made on validation seeds; the file's own otherwise).

    New weights under a shipped name drop that name's results and pruner variants: both were
    measured or trained on the weights they replace. The same weights under other inference choices
    keep their pruners but drop every recorded result: those episodes ran under the old choices.
    """
    policy = SparseDiffusionPolicy.load(file).with_inference(**inference)
    target = HERE / f"{name}.pt"
    shipped = SparseDiffusionPolicy.load(target) if target.is_file() else None
    previous = shipped.weights_digest() if shipped is not None else None
    with _staged(target) as staging:
        policy.save(staging, metadata=policy.metadata, half=True)
        if staging.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{name}: the fp16 file is {staging.stat().st_size / 2**20:.1f} MB, over the "
                             f"{MAX_FILE_BYTES / 2**20:.0f} MB budget; {target} is unchanged")
    index = _index()
    entry = index["policies"].setdefault(name, {})
    if previous is not None and previous != policy.weights_digest():
        stale = entry.pop("variants", [])
        entry.pop("results", None)
        for variant in stale:
            (HERE / variant["file"]).unlink(missing_ok=True)
        print(f"{name}: new weights; dropped its recorded results and {len(stale)} pruner variant(s) "
              "trained on the old ones (retrain and ship them again)")
    elif shipped is not None and shipped.config.inference_choices() != policy.config.inference_choices():
        entry.pop("results", None)
        for variant in entry.get("variants", []):
            variant["results"] = None
        print(f"{name}: now runs with {policy.config.inference_choices()} (was {shipped.config.inference_choices()}); "
              "dropped the results measured under the old choices")
    entry.update(file=target.name, env_id=policy.config.env_id, recipe=recipe,
                 parameters=sum(p.numel() for p in policy.model.parameters()),
                 **policy.config.inference_choices())
    entry.setdefault("variants", [])
    write_json(INDEX, index)
    if results:
        record_results(name, results)
    return target


def record_results(name: str, results: str, sparsity: float | None = None, strategy: str | None = None) -> dict:
    """Record an eval summary for a shipped policy (per sampler, e.g. "ddim16") or, with ``sparsity``,
    for its planner variant of that sparsity, strategy and the summary's sampler."""
    index = _index()
    if name not in index["policies"]:
        raise ValueError(f"no shipped policy {name!r}; shipped: {sorted(index['policies'])}")
    entry, summary = index["policies"][name], _results(results)
    for key in INFERENCE_CHOICES:
        ran, shipped = summary.get(key), entry.get(key)
        if ran is not None and shipped is not None and ran != shipped:
            raise ValueError(f"{results} ran with {key} {ran}; the shipped {name!r} uses {shipped} "
                             f"(evaluate with {inference_flag(key, shipped)}, or ship the policy with "
                             f"{inference_flag(key, ran)})")
    _check_measured_on_shipped(name, entry, Path(results), summary, sparsity, strategy)
    if sparsity is None:
        entry.setdefault("results", {})[f"{summary['sampler']}{summary['steps']}"] = summary
    else:
        find_variant(name, entry, sparsity, summary["sampler"], summary["steps"], strategy)["results"] = summary
    write_json(INDEX, index)
    return summary


def _check_measured_on_shipped(name: str, entry: dict, results: Path, summary: dict,
                               sparsity: float | None, strategy: str | None) -> None:
    """Refuse a summary whose run (``run.json`` beside it) had other weights, planner or settings than
    the shipped variant: a training output and its fp16 shipped copy fail different episodes."""
    identity_file = results.with_name(IDENTITY_FILE)
    if not identity_file.is_file():
        return  # a summary kept without its folder: the inference choices above are all there is to check
    ran = json.loads(identity_file.read_text())
    sampler, steps = summary["sampler"], summary["steps"]
    files = variant_files(name, entry, sparsity, sampler, steps, root=HERE, strategy=strategy)
    shipped = SparseDiffusionPolicy.from_files(*files, sampler=sampler, steps=steps)
    if policy_identity(shipped, ran["env_id"])["digest"] != ran["digest"]:
        raise ValueError(f"{results} was measured on other weights, planner or settings than the shipped "
                         f"{name!r} (a training output is not its fp16 shipped copy): evaluate the shipped "
                         f"file, e.g. `tts-gym eval --policy {name} ...`")


def ship_pruner(name: str, file: str, sparsity: float, sampler: str, steps: int, recipe: str,
                results: str | None, strategy: str = DEFAULT_STRATEGY) -> Path:
    index = _index()
    if name not in index["policies"]:
        raise ValueError(f"ship the policy {name!r} before its pruners")
    target = HERE / f"{name}_{strategy}_{sampler}{steps}_rho{sparsity:.2f}.pt"
    SparseDiffusionPolicy.load(HERE / index["policies"][name]["file"]).with_planner_file(file)  # must fit
    copy_file(file, target)
    variants = [v for v in index["policies"][name]["variants"] if variant_key(v) != (sparsity, sampler, steps, strategy)]
    variants.append({"sparsity": sparsity, "sampler": sampler, "steps": steps, "strategy": strategy,
                     "file": target.name, "recipe": recipe, "results": _results(results)})
    index["policies"][name]["variants"] = variants
    write_json(INDEX, index)
    return target


def withdraw_pruner(name: str, sparsity: float, sampler: str, steps: int, strategy: str | None = None) -> dict:
    """Remove a shipped pruner (its file and its index entry): one measured below dense's success
    should not be what ``from_pretrained(..., sparsity=...)`` hands a user. Returns the removed
    entry, whose recipe and results say how to rebuild and what it measured."""
    index = _index()
    if name not in index["policies"]:
        raise ValueError(f"no shipped policy {name!r}; shipped: {sorted(index['policies'])}")
    entry = index["policies"][name]
    removed = find_variant(name, entry, sparsity, sampler, steps, strategy)
    entry["variants"] = [v for v in entry["variants"] if v is not removed]
    write_json(INDEX, index)
    (HERE / removed["file"]).unlink(missing_ok=True)
    return removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["policy", "pruner", "results", "withdraw"],
                        help="results: only record --results for a shipped policy (with --sparsity: its pruner); "
                             "withdraw: remove the pruner --sparsity --sampler --steps")
    parser.add_argument("--name", required=True)
    parser.add_argument("--file", help="the trained file to ship (policy, pruner)")
    parser.add_argument("--recipe", help="the commands that reproduce the file (policy, pruner)")
    parser.add_argument("--results", default=None, help="summary.json of `tts-gym eval`")
    parser.add_argument("--sparsity", type=float)
    parser.add_argument("--sampler", default="ddpm")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--strategy", default=None, choices=VARIANT_STRATEGIES,
                        help=f"of a pruner variant (default {DEFAULT_STRATEGY}); frozen: a pruner's most frequent "
                             "plan (train-pruner --freeze); tail: a static tail plan (train-pruner --static tail)")
    add_inference_arguments(parser)  # policy: the inference choices it ships under
    args = parser.parse_args()
    if args.kind == "results":
        if not args.results:
            parser.error("results needs --results")
        record_results(args.name, args.results, args.sparsity, args.strategy)
        return
    if args.kind == "withdraw":
        if args.sparsity is None:
            parser.error("withdraw needs --sparsity (and --sampler, --steps)")
        removed = withdraw_pruner(args.name, args.sparsity, args.sampler, args.steps, args.strategy)
        print(f"withdrew {removed['file']} (success {(removed.get('results') or {}).get('success_rate')})")
        return
    if not (args.file and args.recipe):
        parser.error(f"{args.kind} needs --file and --recipe")
    if args.kind == "policy":
        print(ship_policy(args.name, args.file, args.recipe, args.results, **inference_arguments(args)))
    else:
        print(ship_pruner(args.name, args.file, args.sparsity, args.sampler, args.steps, args.recipe, args.results,
                          args.strategy or DEFAULT_STRATEGY))


if __name__ == "__main__":
    main()
