"""The tts-gym command line: a thin dispatcher over subcommand modules.

Each subcommand lives next to the code it drives and exposes ``add_arguments(parser)``
and ``run(args) -> int``; the dispatcher only knows their module names.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("tts_gym.data.collect", "collect scripted-expert demonstrations into robomimic HDF5"),
    "train": ("tts_gym.training.cli", "train a dense DP-T policy on an HDF5 dataset"),
    "import-dp": ("tts_gym.policy.dp_import_cli", "convert a diffusion_policy workspace checkpoint into a policy file"),
    "record-rollouts": ("tts_gym.sparsity.training.record", "record dense rollouts as pruner-training trajectories"),
    "train-pruner": ("tts_gym.sparsity.training.cli", "train a test-time-sparsity pruner"),
    "eval": ("tts_gym.evaluation.cli", "evaluate a policy in simulation"),
    "pick": ("tts_gym.evaluation.pick", "of several planner files, the one that keeps the most success on "
                                        "validation episodes"),
    "bench": ("tts_gym.evaluation.bench_cli", "benchmark every acceleration method side by side"),
    "render-masks": ("tts_gym.wrappers.render_masks", "draw recorded plans as pictures"),
    "zoo": ("tts_gym.zoo.listing", "list the shipped policies and pruners with their measured results"),
}

TRACEBACK_VARIABLE = "TTS_GYM_TRACEBACK"  # set: bad-input errors raise with their traceback


def _exists(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # a parent package is absent
        return False


def _available() -> dict[str, tuple[str, str]]:
    return {name: spec for name, spec in COMMANDS.items() if _exists(spec[0])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tts-gym", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in _available().items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    module = importlib.import_module(_available()[args.command][0])
    try:
        return int(module.run(args) or 0)
    except ValueError as error:  # every bad-input error here is one (a wrong shape, file, name or option)
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        print(f"tts-gym {args.command}: error: {error}\n(set {TRACEBACK_VARIABLE}=1 for the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
