"""``tts-gym train-pruner``: trajectory-level training of a pruner for one policy, sampler and rho."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch

from ...evaluation.cli import add_inference_arguments, inference_arguments
from ...evaluation.evaluate import load_variant
from ...files import copy_file
from ...policy.checkpoint import read_planner_checkpoint
from ..planners import planner_from_state
from ..planners.base import FixedPlanner
from .config import INIT_PLANS, STATIC_PLANS, PrunerTrainConfig
from .trainer import (
    PrunerTrainer, acts_after_the_first, best_static_plan, frozen, recalibrated, spread, static_plan,
)
from .trajectories import TrajectoryStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, help="dense policy: shipped name or checkpoint path")
    parser.add_argument("--rollouts", required=True, help="trajectory file from `tts-gym record-rollouts`")
    parser.add_argument("--out", required=True, help="planner file to write (.pt)")
    parser.add_argument("--strategy", default="omni", choices=["omni", "one_for_all"])
    parser.add_argument("--rho", type=float, default=0.95,
                        help="target share of reused blocks: for a pruner, of the decisions after step 0 (always "
                             "computed), so a plan reusing 95%% of all blocks on DDPM-100 reuses 0.96 of those; "
                             "for --static, of all blocks")
    parser.add_argument("--sampler", default="ddpm", choices=["ddpm", "ddim", "dpm"])
    parser.add_argument("--steps", type=int, default=100, help="denoising steps the pruner is trained for")
    add_inference_arguments(parser)  # the choices the pruner is trained under (default: the policy's)
    parser.add_argument("--epochs", type=int, default=PrunerTrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=PrunerTrainConfig.batch_size)
    parser.add_argument("--segment-frames", type=int, default=PrunerTrainConfig.segment_frames,
                        help="consecutive acts of each rollout lane per batch (one optimiser step each)")
    parser.add_argument("--reset-each-batch", action="store_true",
                        help="start every batch's lanes with a dense act instead of carrying the rollout cache R")
    parser.add_argument("--lr", type=float, default=PrunerTrainConfig.learning_rate)
    parser.add_argument("--prior-lr", type=float, default=PrunerTrainConfig.prior_learning_rate,
                        help="learning rate of the prior table (per-decision logits)")
    parser.add_argument("--ema-decay", type=float, default=PrunerTrainConfig.ema_decay,
                        help="save the moving average of the pruner's weights at this decay, per optimiser step "
                             "(e.g. 0.99), not the last state: neighbouring states differ widely in success")
    parser.add_argument("--sparsity-weight", type=float, default=PrunerTrainConfig.sparsity_weight)
    parser.add_argument("--width", type=int, default=PrunerTrainConfig.width)
    parser.add_argument("--init-plan", default=PrunerTrainConfig.init_plan, choices=INIT_PLANS,
                        help="static plan the pruner starts at (its prior table); best: of bac, interval and tail, "
                             "the plan whose chunks are nearest dense's; 'none': no prior table")
    parser.add_argument("--gated-steps", type=int, default=PrunerTrainConfig.gated_steps,
                        help="denoising steps per act whose gates get a gradient (0: all); the others run the hard "
                             "plan, computing only what it computes")
    parser.add_argument("--all-actions", action="store_true",
                        help="weight every predicted action equally in the fidelity loss, not by what is executed")
    parser.add_argument("--max-rollouts", type=int, default=None, help="use only the first N rollouts")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    parser.add_argument("--stop-after", type=int, default=None, metavar="BATCHES",
                        help="stop (resumably) once the run has trained this many batches in all: a state picked "
                             "by its episodes can be trained again exactly")
    parser.add_argument("--snapshot-every", type=int, default=None, metavar="BATCHES",
                        help="also write the pruner every N batches of the run, as <out>_b<batches>.pt: success "
                             "swings between neighbouring states and the training batches' loss does not rank them")
    parser.add_argument("--validation-rollouts", type=int, default=PrunerTrainConfig.validation_rollouts,
                        metavar="N", help="hold the last N rollouts out of training and score every snapshot's hard "
                                          "plan on them (fidelity to dense, in rollout order); --out is then the "
                                          "best-scoring snapshot or final state")
    parser.add_argument("--run-dir", default=None, help="resumable state (default: <out>_run/)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--init", default=None, metavar="PLANNER_FILE",
                        help="start from this trained pruner of the same shape (e.g. the DDIM-16 one when training for "
                             "DDPM-100, or one trained on earlier weights of the policy), or from this static plan "
                             "(a file of --static or --freeze) as the prior table")
    parser.add_argument("--recalibrate", default=None, metavar="PLANNER_FILE",
                        help="no training: move this trained pruner to --rho by its compute-logit offset")
    parser.add_argument("--static", default=None, choices=STATIC_PLANS,
                        help="no training: write this static plan at --rho for --sampler/--steps, calibrated on the "
                             "rollouts' acts (tail: the tail length whose chunks are nearest dense's; best: of bac, "
                             "interval and tail, the plan whose chunks are nearest dense's)")
    parser.add_argument("--freeze", default=None, metavar="PLANNER_FILE",
                        help="no training: write this planner's most frequent plan over the rollouts' acts as a static "
                             "plan (no pruner cost per act); prints how often the pruner decides otherwise")


def snapshot_path(out: Path, batches_done: int) -> Path:
    return out.with_name(f"{out.stem}_b{batches_done}{out.suffix}")


def save_trained(trainer: PrunerTrainer, args: argparse.Namespace, trajectories: list, out: Path) -> dict:
    """Write the trainer's pruner as a planner file, with the recipe, progress and (with held-out
    rollouts) validation score that made it."""
    sparse = trainer.sparse_policy()
    recent = trainer.history[-20:]
    metadata = {
        "train_config": trainer.config.to_dict(), "rollouts": str(args.rollouts), "num_rollouts": len(trajectories),
        "init": args.init,
        "finished": trainer.epoch >= trainer.config.epochs, "epochs_done": trainer.epoch,
        "batches_done": trainer.batches_done,
        "compute_offset": sparse.planner.compute_offset,
        # how much of the plan training itself changed, and how much with the calibration's offset
        "moved_by_training": trainer.moved_from_start(),
        "moved_with_offset": trainer.moved_from_start(sparse.planner.compute_offset),
        "recent_fidelity_l1": sum(r["fidelity_l1"] for r in recent) / max(1, len(recent)),
    }
    if trainer.validation:
        metadata["validation_l1"] = trainer.validation_fidelity(sparse)
    sparse.save_planner(out, metadata=json.loads(json.dumps(metadata)))
    return metadata


def save_derived(derived, source, out: str, **how) -> None:
    """Write a planner made from a trained one without training (moved, frozen): the source's planner
    metadata, then how it was derived."""
    derived.save_planner(out, metadata=json.loads(json.dumps({**source.metadata.get("planner", {}), **how})))


def best_validated(out: Path, config: PrunerTrainConfig) -> Path:
    """The snapshot of this run (same recipe) with the lowest validation score, resumed runs and the
    starting state included: training is kept only where it scores better than where it started."""
    scored = {}
    for path in out.parent.glob(f"{out.stem}_b*{out.suffix}"):
        metadata = read_planner_checkpoint(path).get("metadata", {})
        if metadata.get("train_config") == json.loads(json.dumps(config.to_dict())) and "validation_l1" in metadata:
            scored[path] = metadata["validation_l1"]
    return min(scored, key=scored.get)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    trajectories = TrajectoryStore(args.rollouts).load()[: args.max_rollouts]
    if args.recalibrate:
        source = load_variant(args.policy, planner_file=args.recalibrate, **inference_arguments(args))
        moved = recalibrated(source, trajectories, args.rho)
        save_derived(moved, source, args.out, recalibrated_from=str(args.recalibrate), rho=args.rho,
                     compute_offset=moved.planner.compute_offset)
        print(f"wrote {args.out}: offset {moved.planner.compute_offset:.4f} for rho {args.rho}")
        return 0
    if args.freeze:
        source = load_variant(args.policy, planner_file=args.freeze, **inference_arguments(args))
        fixed, report = frozen(source, trajectories)
        save_derived(fixed, source, args.out, frozen_from=str(args.freeze), rollouts=str(args.rollouts),
                     freeze=asdict(report))
        print(f"wrote {args.out}: {report.reuse:.1%} reuse; over {report.acts} acts the planner decides otherwise on "
              f"{report.decisions_changed:.2e} of its decisions, in {report.acts_changed:.1%} of the acts")
        return 0
    policy = load_variant(args.policy, sampler=args.sampler, steps=args.steps, **inference_arguments(args))
    if args.static:
        windows = spread(acts_after_the_first(trajectories), PrunerTrainConfig.calibration_windows)
        metadata = {"static_plan": args.static, "rho": args.rho, "rollouts": str(args.rollouts),
                    "calibration_windows": len(windows)}
        if args.static == "best":
            plan, family, errors = best_static_plan(policy, windows, args.rho)
            metadata.update(family=family, chunk_errors=errors)
        else:
            plan, family = static_plan(policy, windows, args.rho, args.static), args.static
        fixed = policy.with_planner(FixedPlanner(plan))
        fixed.save_planner(args.out, metadata=metadata)
        print(f"wrote {args.out}: {family} plan, {(fixed.planner.fixed != 0).mean():.1%} reuse")
        return 0
    config = PrunerTrainConfig(
        strategy=args.strategy, rho=args.rho, sparsity_weight=args.sparsity_weight, learning_rate=args.lr,
        prior_learning_rate=args.prior_lr,
        epochs=args.epochs, batch_size=args.batch_size, segment_frames=args.segment_frames, width=args.width,
        init_plan=args.init_plan, gated_steps=args.gated_steps, executed_weighting=not args.all_actions,
        carry_rollout_cache=not args.reset_each_batch, ema_decay=args.ema_decay,
        validation_rollouts=args.validation_rollouts,
    )
    out = Path(args.out)
    run_dir = Path(args.run_dir) if args.run_dir else out.with_name(out.stem + "_run")
    warm_start = None
    if args.init:
        warm = read_planner_checkpoint(args.init)
        warm_start = planner_from_state(warm["planner"]["name"], warm["planner"]["state"])
    trainer = PrunerTrainer(policy, trajectories, config, run_dir, warm_start=warm_start)
    if trainer.try_resume():
        print(f"resuming at epoch {trainer.epoch}, batch {trainer.batch_index}")
    written = set()

    def snapshot() -> None:
        path = snapshot_path(out, trainer.batches_done)
        save_trained(trainer, args, trajectories, path)
        written.add(path)

    if config.validation_rollouts and trainer.batches_done == 0:
        snapshot()  # the starting state (the static plan, or the warm start) is a candidate too

    trainer.train(max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
                  max_batches=None if args.stop_after is None else max(0, args.stop_after - trainer.batches_done),
                  snapshot_every=args.snapshot_every,
                  on_snapshot=snapshot)
    if not config.validation_rollouts:
        metadata = save_trained(trainer, args, trajectories, out)
        print(f"wrote {out}: {json.dumps(metadata)}")
        return 0
    final = snapshot_path(out, trainer.batches_done)
    if final not in written:
        save_trained(trainer, args, trajectories, final)
    best = best_validated(out, config)
    copy_file(best, out)
    print(f"wrote {out}: the best validated state, {best.name}: {json.dumps(read_planner_checkpoint(out)['metadata'])}")
    return 0
