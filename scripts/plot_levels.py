"""Bar chart of the task levels (Kitchen's p1..p4) of several runs: one group of bars per run.

    python scripts/plot_levels.py outputs/eval/v6/a/summary.json outputs/diag/pin_clip.json \\
        --labels "fix 2" "clamped" --out docs/kitchen_levels.png

Each file is a JSON object with task levels ``p1``, ``p2``, ... (a ``tts-gym eval`` ``summary.json``, or
the line ``scripts/pin_observation.py`` prints); the bars are the share of episodes completing at
least n tasks. Every file must have the same levels.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tts_gym.evaluation.metrics import task_level_keys  # noqa: E402


def read_summaries(paths: list[str]) -> tuple[list[str], np.ndarray]:
    """(level names, ``[runs, levels]`` shares); every file must report the same levels."""
    summaries = []
    for path in paths:
        with open(path) as f:
            summaries.append(json.load(f))
    levels = task_level_keys(summaries[0])
    for path, summary in zip(paths, summaries):
        if not levels or task_level_keys(summary) != levels:
            raise SystemExit(f"{path} reports levels {task_level_keys(summary)}; expected the same "
                             f"non-empty p1, p2, ... in every file (first file: {levels})")
    return levels, np.array([[summary[level] for level in levels] for summary in summaries])


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

    names, levels = read_summaries(args.files)
    width = 0.8 / len(names)
    figure, axis = plt.subplots(figsize=(1.6 * len(args.files) + 2, 3.8))
    positions = np.arange(len(args.files))
    for index, level in enumerate(names):
        offset = (index - (len(names) - 1) / 2) * width
        bars = axis.bar(positions + offset, levels[:, index], width, label=f"{level}: >= {index + 1} tasks")
        axis.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    axis.set_xticks(positions, labels, fontsize=8)
    axis.set_ylim(0, 1.22)  # headroom for the legend above bars at 1.0
    axis.set_ylabel("share of 50 episodes")
    axis.set_title(args.title, fontsize=10)
    axis.legend(fontsize=8, ncol=len(names), loc="upper right")
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
