"""``tts-gym render-masks``: pictures of recorded plans (one rollout, or a summary across rollouts)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from ..sparsity.plan import Decision
from .mask_image import DECISION_COLORS, grouped_columns, plan_image

MAX_PANELS = 24


def _legend(ax) -> None:
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=np.array(c) / 255, label=d.name) for d, c in DECISION_COLORS.items()],
              loc="upper center", ncol=4, frameon=False, bbox_to_anchor=(0.5, 1.25))


def render_rollout(npz_path: str | Path, out: str | Path) -> Path:
    """A grid of the plans of one rollout (steps down, blocks SA | CA | FFN across) and its sparsity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.load(npz_path)
    plans, sparsity = data["plans"], data["sparsity"]
    if not len(plans):
        raise ValueError(f"{npz_path} holds no inference")
    pick = np.linspace(0, len(plans) - 1, min(MAX_PANELS, len(plans))).round().astype(int)
    cols = min(8, len(pick))
    rows = math.ceil(len(pick) / cols)
    fig = plt.figure(figsize=(1.6 * cols, 2.2 * rows + 2.0))
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[2.2] * rows + [1.6])
    for n, index in enumerate(pick):
        ax = fig.add_subplot(grid[n // cols, n % cols])
        ax.imshow(plan_image(plans[index]), aspect="auto", interpolation="nearest")
        ax.set_title(f"act {index} · {sparsity[index]:.0%}", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
        if n == 0:
            ax.set_ylabel("denoising step", fontsize=8)
            _legend(ax)
    ax = fig.add_subplot(grid[rows, :])
    ax.plot(sparsity, marker=".")
    ax.set_xlabel("inference along the rollout"), ax.set_ylabel("sparsity"), ax.set_ylim(0, 1)
    seed, success = int(data["seed"]), bool(data["success"])
    fig.suptitle(f"{Path(npz_path).name}: seed {seed}, success {success} (columns: SA | CA | FFN blocks by layer)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)


def render_summary(npz_paths: list[Path], out: str | Path) -> Path:
    """Across rollouts: share of reuse per (step, block), and the share of each decision per block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plans = np.concatenate([np.load(p)["plans"][1:] for p in npz_paths])  # skip each rollout's dense first act
    if not len(plans):
        raise ValueError("no sparse inference in the given rollouts")
    columns = grouped_columns(plans.shape[-1])
    reuse = (plans != Decision.COMPUTE).mean(axis=0)
    heat = np.where(columns >= 0, reuse[:, np.maximum(columns, 0)], np.nan)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    image = left.imshow(heat, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1)
    left.set_xlabel("block (SA | CA | FFN, by layer)"), left.set_ylabel("denoising step")
    left.set_title(f"share of reuse over {len(plans)} inferences of {len(npz_paths)} rollouts")
    fig.colorbar(image, ax=left)
    bottom = np.zeros(len(columns))
    for decision, color in DECISION_COLORS.items():
        share = np.where(columns >= 0, (plans == decision).mean(axis=(0, 1))[np.maximum(columns, 0)], 0)
        right.bar(np.arange(len(columns)), share, bottom=bottom, color=np.array(color) / 255, label=decision.name)
        bottom += share
    right.set_xlabel("block (SA | CA | FFN, by layer)"), right.set_ylabel("share of decisions")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="rollout_XXXX.npz files, or a folder of them")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--summary", action="store_true", help="one figure across all given rollouts")


def run(args: argparse.Namespace) -> int:
    paths: list[Path] = []
    for item in map(Path, args.inputs):
        paths.extend(sorted(item.glob("rollout_*.npz")) if item.is_dir() else [item])
    if not paths:
        raise SystemExit("no rollout_*.npz found")
    if args.summary or len(paths) > 1:
        written = render_summary(paths, args.out)
    else:
        written = render_rollout(paths[0], args.out)
    print(f"wrote {written}")
    return 0
