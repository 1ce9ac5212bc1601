"""``tts-gym train``: dense DP-T training on an HDF5 dataset."""
from __future__ import annotations

import argparse

import torch

from ..policy.policy import SparseDiffusionPolicy
from .config import PRESETS
from .trainer import Trainer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, nargs="+",
                        help="robomimic-, D4RL- or Minari-layout HDF5 file(s) or Minari dataset directories; "
                             "several are trained on together (docs/datasets.md)")
    parser.add_argument("--config", default="robomimic", choices=sorted(PRESETS), help="recipe preset")
    parser.add_argument("--out", required=True, help="policy checkpoint to write (EMA weights)")
    parser.add_argument("--run-dir", default=None, help="training state and log (default: <out>_run/)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, dest="learning_rate")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--obs-range-eps", type=float, default=None,
                        help="observation dims spanning less than this are held constant (preset's default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (use 1 when anything else runs: idle OpenMP threads wait on busy cores)")
    parser.add_argument("--no-resume", action="store_true", help="start over even if a run state exists")
    parser.add_argument("--init", default=None, metavar="POLICY",
                        help="fine-tune: start from this policy's weights (shipped name or checkpoint), e.g. on more demos; "
                             "a policy observing a prefix of the dataset's observation is widened, the new inputs at zero")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = PRESETS[args.config].with_overrides(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
        obs_range_eps=args.obs_range_eps,
    )
    trainer = Trainer(args.dataset, config, args.out, args.run_dir)
    if not args.no_resume and trainer.try_resume():
        print(f"resuming from epoch {trainer.epoch} ({trainer.run_dir})")
    elif args.init:
        trainer.start_from(SparseDiffusionPolicy.from_pretrained(args.init), args.init)
    result = trainer.train()
    print(f"wrote {result.policy_path}: {result.epochs} epochs, train loss {result.train_loss:.4f}, "
          f"val loss {result.val_loss}, {result.seconds:.0f} s")
    return 0
