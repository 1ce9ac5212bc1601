"""The success-vs-speed frontier: which methods no other method beats on both at once.

A method is worth running only if it is on the frontier: no other row is at least as fast *and*
at least as successful (one of them strictly). Success is the task's success rate (Kitchen: all
its tasks) with its Wilson 95% interval; speed is act() speedup over dense at batch 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import keeps_success


def on_frontier(rows: list[dict]) -> list[dict]:
    """The rows no other row dominates, by increasing speedup; rows without success are skipped."""
    measured = [row for row in rows if row.get("success_rate") is not None]

    def dominated(row: dict) -> bool:
        return any(other["speedup"] >= row["speedup"] and other["success_rate"] >= row["success_rate"]
                   and (other["speedup"] > row["speedup"] or other["success_rate"] > row["success_rate"])
                   for other in measured)

    return sorted((row for row in measured if not dominated(row)), key=lambda row: row["speedup"])


def fastest_keeping_success(rows: list[dict], reference: str = "dense") -> dict | None:
    """The fastest row whose success is inside the reference row's 95% interval (at or above its low end)."""
    by_method = {row["method"]: row for row in rows}
    if reference not in by_method or by_method[reference].get("success_ci95") is None:
        return None
    interval = by_method[reference]["success_ci95"]
    keeping = [row for row in rows if row.get("success_rate") is not None and keeps_success(row["success_rate"], interval)]
    return max(keeping, key=lambda row: row["speedup"], default=None)


def plot_frontier(rows: list[dict], path: Path, title: str) -> None:
    """Success (95% CI) against speedup over dense, one colour per family, the frontier as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    measured = [row for row in rows if row.get("success_rate") is not None]
    families = sorted({row["family"] for row in measured})
    colours = dict(zip(families, plt.get_cmap("tab10").colors))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for row in measured:
        low, high = row.get("success_ci95") or (row["success_rate"], row["success_rate"])
        ax.errorbar(row["speedup"], row["success_rate"], color=colours[row["family"]], fmt="o", capsize=2,
                    yerr=[[max(0.0, row["success_rate"] - low)], [max(0.0, high - row["success_rate"])]],
                    elinewidth=0.7, markersize=4)
        ax.annotate(row["method"], (row["speedup"], row["success_rate"]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points", rotation=30)
    front = on_frontier(measured)
    ax.scatter([r["speedup"] for r in front], [r["success_rate"] for r in front], s=90, facecolors="none",
               edgecolors="black", linewidths=0.8, label="on the frontier")
    if len(front) > 1:
        # the best success at a speed of at least x: each frontier row's success holds up to its speedup
        ax.step([r["speedup"] for r in front], [r["success_rate"] for r in front], where="pre", color="black",
                linewidth=0.8, alpha=0.6)
    for family, colour in colours.items():
        ax.scatter([], [], color=colour, label=family)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(
        lambda value, _: f"{value:g}x" if round(value / 10 ** np.floor(np.log10(value))) in (2, 3, 5) else ""))
    ax.set_ylim(-0.05, 1.08)
    ax.set_xlabel("act() speedup over dense (batch 1)")
    ax.set_ylabel("success rate (95% CI)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
