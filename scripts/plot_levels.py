"""Bar chart of Kitchen's p1..p4 for several runs: one group of bars per run.

    python scripts/plot_levels.py outputs/eval/v6/a/summary.json outputs/diag/pin_clip.json \\
        --labels "fix 2" "clamped" --out docs/kitchen_levels.png

Each file is a JSON object with ``p1`` .. ``p4`` (a ``tts-gym eval`` ``summary.json``, or the line
``scripts/pin_observation.py`` prints); the bars are the share of episodes completing at least n tasks.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LEVELS = ("p1", "p2", "p3", "p4")


def read_levels(path: str) -> list[float]:
    with open(path) as f:
        summary = json.load(f)
    missing = [level for level in LEVELS if level not in summary]
    if missing:
        raise SystemExit(f"{path} has no {missing}: expected a Kitchen summary with p1..p4")
    return [summary[level] for level in LEVELS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="JSON summaries with p1..p4")
    parser.add_argument("--labels", nargs="+", default=None, help="one label per file")
    parser.add_argument("--title", default="Kitchen: share of episodes completing at least n tasks")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    labels = args.labels or args.files
    if len(labels) != len(args.files):
        parser.error(f"{len(args.files)} files but {len(labels)} labels")

    levels = np.array([read_levels(path) for path in args.files])
    width = 0.8 / len(LEVELS)
    figure, axis = plt.subplots(figsize=(1.6 * len(args.files) + 2, 3.8))
    positions = np.arange(len(args.files))
    for index, level in enumerate(LEVELS):
        bars = axis.bar(positions + (index - 1.5) * width, levels[:, index], width, label=f"{level}: >= {index + 1} tasks")
        axis.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    axis.set_xticks(positions, labels, fontsize=8)
    axis.set_ylim(0, 1.08)
    axis.set_ylabel("share of 50 episodes")
    axis.set_title(args.title, fontsize=10)
    axis.legend(fontsize=8, ncol=4, loc="upper right")
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
