"""Plot the per-step traces recorded by ``scripts/handover.py --trace I``: one panel per file.

    python scripts/plot_traces.py a.jsonl b.jsonl --titles "A" "B" --task "light switch" \\
        --ylabel "light-switch joint" --hlines -0.39 --hline-labels "task counts" --out docs/handover_light.png

Each episode is a line, blue if it completed ``--task``, red if not; ``--hlines`` marks thresholds.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_episodes(path: str) -> list[dict]:
    with open(path) as f:
        return [record for record in map(json.loads, f) if "trace" in record]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="JSON lines from scripts/handover.py --trace")
    parser.add_argument("--titles", nargs="+", default=None)
    parser.add_argument("--task", required=True, help="task whose completion colours the lines")
    parser.add_argument("--ylabel", default="observation")
    parser.add_argument("--hlines", nargs="*", type=float, default=[])
    parser.add_argument("--hline-labels", nargs="*", default=[], help="one label per --hlines value")
    parser.add_argument("--steps", type=int, default=40, help="steps after handover to show")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    titles = args.titles or args.files
    figure, axes = plt.subplots(1, len(args.files), figsize=(5 * len(args.files), 3.6), sharey=True, squeeze=False)
    for axis, path, title in zip(axes[0], args.files, titles):
        episodes = read_episodes(path)
        done = sum(args.task in episode["tasks_completed"] for episode in episodes)
        for episode in episodes:
            colour = "tab:blue" if args.task in episode["tasks_completed"] else "tab:red"
            axis.plot(episode["trace"][: args.steps], color=colour, alpha=0.7, lw=1.2)
        for index, level in enumerate(args.hlines):
            axis.axhline(level, color="black", ls="--", lw=0.8)
            if index < len(args.hline_labels):
                axis.annotate(args.hline_labels[index], (args.steps - 1, level), ha="right", va="bottom", fontsize=8)
        axis.set_title(f"{title}: {args.task} {done}/{len(episodes)}", fontsize=10)
        axis.set_xlabel("steps after handover")
    axes[0][0].set_ylabel(args.ylabel)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
