"""``tts-gym import-dp``: a diffusion_policy workspace checkpoint (.ckpt) as a tts_gym policy file.

diffusion_policy saves its workspace with ``torch.save(..., pickle_module=dill)``, config and all, so
reading it means unpickling, which runs whatever code the file names: only with ``--trust-pickle``.
The file written holds plain data and loads weights-only, like every tts_gym file.
"""
from __future__ import annotations

import argparse
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..backbone.sampler import SAMPLERS
from ..envs.registration import registered_id
from .dp_import import WEIGHTS, DPImportError, convert_workspace

# Modules a workspace checkpoint's pickle names besides torch's: the ``dp`` extra installs them.
DP_EXTRAS = ("dill", "omegaconf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="diffusion_policy workspace checkpoint (.ckpt), low-dim transformer policy")
    parser.add_argument("--out", required=True, help="tts_gym policy file to write (.pt)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="read the checkpoint although that runs code (it is a pickle): only for files you trust")
    parser.add_argument("--weights", default="ema", choices=sorted(WEIGHTS),
                        help="the EMA weights (what diffusion_policy evaluates) or the trained model's")
    parser.add_argument("--env", default=None,
                        help="env the policy acts in (a tts_gym short name, or any registered Gymnasium id), "
                             "recorded for eval, record-rollouts and bench")
    parser.add_argument("--sampler", default=None, choices=SAMPLERS,
                        help="sampler of the policy file (default: the checkpoint's noise scheduler)")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps (default: the checkpoint's num_inference_steps)")


def read_workspace(path: Path, trust_pickle: bool) -> Any:
    """The unpickled payload, with dill when it is installed (as diffusion_policy writes)."""
    if not trust_pickle:
        raise DPImportError(
            f"reading {path} unpickles it, and unpickling runs whatever code the file names; pass --trust-pickle "
            "if you trust where it comes from (e.g. you trained it). The policy file written loads weights-only."
        )
    if not path.is_file():
        raise DPImportError(f"no checkpoint at {path}")
    try:
        import dill
    except ImportError:  # a checkpoint that names no dill still reads with plain pickle
        dill = None
    options = {"pickle_module": dill} if dill is not None else {}
    try:
        return torch.load(path, map_location="cpu", weights_only=False, **options)
    except ModuleNotFoundError as error:
        hint = "pip install 'tts_gym[dp]'" if error.name in DP_EXTRAS else "install it"
        raise DPImportError(f"reading {path} needs the Python module {error.name!r}: {hint}") from error
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as error:
        raise DPImportError(f"{path} is not a readable torch checkpoint (truncated or corrupt?): {error}") from error


def run(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    try:
        env_id = registered_id(args.env) if args.env else None
        policy = convert_workspace(read_workspace(path, args.trust_pickle), args.weights, env_id, args.sampler,
                                   args.steps, source=path.name)
    except ValueError as error:  # DPImportError, CheckpointMismatchError and invalid settings say what was expected
        print(f"tts-gym import-dp: {error}", file=sys.stderr)
        return 1
    policy.save(args.out, metadata=policy.metadata)
    b, s = policy.config.backbone, policy.config.sampler
    print(f"wrote {args.out}: {args.weights} weights, {b.n_layer} layers x {b.n_emb}, To={b.n_obs_steps} "
          f"Tp={b.horizon} Ta={policy.config.n_action_steps}, {s.name} {s.num_inference_steps} steps")
    if env_id is None:
        print("no --env recorded: pass --env to tts-gym eval, or import again with --env for record-rollouts and bench")
    return 0
