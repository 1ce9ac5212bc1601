"""The benchmark: every acceleration method on the same policy, seeds and machine, side by side.

For each method (a planner, or dense with another sampler): success over the same seeds, mean
sparsity, GFLOPs per act, act() latency median / IQR interleaved with dense in one process, the
speedup, actions per second, the Amdahl limit from the measured floor and the share of it reached,
and the speedup at batch 8. Results are kept in ``results.json`` per (policy, method) so an
interrupted run resumes; a Markdown table and two plots are written at the end.
"""
from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from ..backbone.sampler import SamplerConfig
from ..files import write_json
from ..sparsity.planners.l2c import train_l2c
from ..sparsity.planners.static import (
    bac_plan_for_reuse, best_tail_plan, calibration_residuals, cosine_similarity_matrices, interval_for_reuse,
    interval_planner,
)
from ..sparsity.planners.base import DensePlanner, FixedPlanner
from ..sparsity.training.config import PrunerTrainConfig
from ..sparsity.training.trainer import spread
from .evaluate import TEST_SEED_START, episode_runner, evaluate
from .flops import count_inference_flops
from .latency import amdahl_limit, floor_compute_share, floor_planner, interleaved_latency
from .metrics import task_level_keys

BATCH_FOR_SCALING = 8
DDIM_STEPS = (2, 4, 6, 8, 10, 16)  # the dense frontier every sparse method must beat


@dataclass
class Method:
    name: str
    family: str
    build: Callable[[object], object]  # dense policy -> policy variant


STATIC_RHOS = (0.8, 0.9, 0.95)  # BAC's and L2C's target reuse unless --rhos says otherwise


def standard_methods(policy, calibration_windows: np.ndarray | None, rhos=STATIC_RHOS, quick: bool = False,
                     pruner_files: dict[str, str] | None = None,
                     samplers: tuple[SamplerConfig, ...] = ()) -> list[Method]:
    """Dense, DDIM-N, interval reuse, BAC, L2C and tail plans (on the policy's sampler and on ``samplers``,
    the ones the pruners run on, so each pruner meets the static plans of its own sampler) and the given
    planner files (name -> file)."""
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    methods = [Method("dense", "dense", lambda p: p)]
    for n in ((16,) if quick else DDIM_STEPS):
        methods.append(Method(f"ddim-{n}", "ddim", lambda p, n=n: p.with_planner(None, SamplerConfig("ddim", n))))
    # interval reuse at the short intervals and at each target reuse (N = 1 / (1 - rho))
    intervals = (4,) if quick else sorted({2, 3, 4, 5, *(interval_for_reuse(rho) for rho in rhos)})
    for n in intervals:
        methods.append(Method(f"interval-{n}", "interval", lambda p, n=n: p.with_planner(interval_planner(steps, blocks, n))))
    if calibration_windows is not None and not quick:
        for sampler in (None, *(s for s in samplers if s != policy.config.sampler)):
            methods += static_methods(calibration_windows, rhos, sampler)
    files = [Method(name, name.split("-")[0], lambda p, path=path: p.with_planner_file(path))
             for name, path in (pruner_files or {}).items()]
    # a file named like a computed method (a shipped tail plan, tail-ddim4-0.50) replaces it: one row per name
    return [m for m in methods if m.name not in (pruner_files or {})] + files


def static_methods(calibration_windows: np.ndarray, rhos, sampler: SamplerConfig | None) -> list[Method]:
    """BAC, L2C and the best tail plan at each target reuse, on ``sampler`` (None: the policy's own)."""
    tag = "" if sampler is None else f"{sampler.name}{sampler.num_inference_steps}-"
    similarity = {}

    def on_sampler(p):
        return p if sampler is None else p.with_planner(None, sampler)

    def bac(p, rho):
        p = on_sampler(p)
        if "matrix" not in similarity:  # measured once per sampler, on the first BAC row run
            similarity["matrix"] = cosine_similarity_matrices(calibration_residuals(p, calibration_windows[:16]))
        return p.with_planner(FixedPlanner(bac_plan_for_reuse(similarity["matrix"], rho)))

    def l2c(p, rho):
        p = on_sampler(p)
        return p.with_planner(train_l2c(p, calibration_windows[:64], rho, epochs=2, progress=False))

    def tail(p, rho):
        p = on_sampler(p)
        windows = spread(calibration_windows, PrunerTrainConfig.calibration_windows)  # spread over the rollouts
        return p.with_planner(FixedPlanner(best_tail_plan(p, windows, rho)[0]))

    methods = []
    for rho in rhos:
        methods.append(Method(f"bac-{tag}{rho:.2f}", "bac", lambda p, rho=rho: bac(p, rho)))
        methods.append(Method(f"l2c-{tag}{rho:.2f}", "l2c", lambda p, rho=rho: l2c(p, rho)))
        methods.append(Method(f"tail-{tag}{rho:.2f}", "tail", lambda p, rho=rho: tail(p, rho)))
    return methods


def select_methods(methods: list[Method], patterns: list[str] | None) -> list[Method]:
    """The methods whose names match any of the shell-style ``patterns`` (all when none are given)."""
    if not patterns:
        return methods
    chosen = [m for m in methods if any(fnmatch(m.name, pattern) for pattern in patterns)]
    if not chosen:
        raise ValueError(f"no method matches {patterns}; the methods are {[m.name for m in methods]}")
    return chosen


def speed_of(variant, dense, dense_flops: int, windows: list[np.ndarray], repeats: int) -> dict:
    """Latency, FLOPs and Amdahl figures of one variant against dense, interleaved."""
    timed = {"method": variant, "dense": dense, "floor": variant.with_planner(floor_planner(variant))}
    reuses = not isinstance(variant.planner, DensePlanner)
    if reuses and variant.config.sampler != dense.config.sampler:  # e.g. TTS on DDIM-16: its own dense too
        timed["own_dense"] = variant.with_planner(None)
    stats = interleaved_latency(timed, windows, repeats=repeats)
    variant.reset()
    variant.predict_action_chunk(windows[0])  # first act of a rollout is dense; count a steady one
    flops = count_inference_flops(variant, windows[1 % len(windows)])
    sparsity = stats["method"]["sparsity"]
    method_ms, dense_ms = stats["method"]["median_ms"], stats["dense"]["median_ms"]
    own_ms = stats["own_dense"]["median_ms"] if "own_dense" in stats else None  # only on another sampler
    reference_ms = own_ms or dense_ms
    # reuse scales the blocks of the method's own sampler, down to that sampler's floor; the limit over
    # the reference dense is that Amdahl limit times the sampler's own gain. A method that reuses
    # nothing (dense, DDIM-N) has no reuse limit: left empty, not 1.0x
    limit = (amdahl_limit(reference_ms, stats["floor"]["median_ms"], sparsity,
                          floor_compute_share(variant.sampler.num_steps)) * dense_ms / reference_ms
             if reuses and sparsity > 0 else None)
    speedup = dense_ms / method_ms
    batch = np.stack([windows[i % len(windows)] for i in range(BATCH_FOR_SCALING)])
    batched = interleaved_latency({"method": variant, "dense": dense}, [batch], repeats=max(3, repeats // 5))
    return {
        "sparsity": sparsity, "gflops": flops / 1e9, "dense_gflops": dense_flops / 1e9,
        "flops_cut": 1 - flops / dense_flops,
        "latency_ms": method_ms, "latency_iqr_ms": stats["method"]["iqr_ms"],
        "dense_latency_ms": dense_ms, "floor_ms": stats["floor"]["median_ms"], "own_dense_latency_ms": own_ms,
        "speedup": speedup, "speedup_over_own_dense": own_ms / method_ms if own_ms else None,
        "amdahl_limit": limit, "share_of_limit": speedup / limit if limit else None,
        "actions_per_s": 1000 * variant.config.actions_per_inference / method_ms,
        "speedup_batch8": batched["dense"]["median_ms"] / batched["method"]["median_ms"],
    }


def run_bench(policy, name: str, methods: list[Method], windows: list[np.ndarray], out: Path,
              episodes: int = 50, seed_start: int = TEST_SEED_START, repeats: int = 30, max_steps: int | None = None,
              progress: bool = True, num_envs: int = 1, backend: str = "local", workers: int | None = None) -> dict:
    episode_runner(backend, workers)  # a wrong backend or a missing Ray fails now, not after the first timing
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = read_results(results_path)
    dense_flops = None  # the same for every method: counted once, when first needed
    for method in methods:
        key = f"{name}/{method.name}"
        if key in results:
            continue
        started = time.perf_counter()
        variant = method.build(policy)
        row = {"policy": name, "method": method.name, "family": method.family,
               "sampler": variant.config.sampler.name, "steps": variant.config.sampler.num_inference_steps}
        if dense_flops is None:
            policy.reset()
            dense_flops = count_inference_flops(policy, windows[0])
        row.update(speed_of(variant, policy, dense_flops, windows, repeats))
        if episodes:  # recorded per episode under episodes/<method>/: an interrupted row resumes there too
            summary = evaluate(variant, episodes=episodes, seed_start=seed_start, num_envs=num_envs,
                               max_episode_steps=max_steps, out=out / "episodes" / method.name, progress=progress,
                               backend=backend, workers=workers)
            row.update({k: v for k, v in summary.items() if k not in row and k != "act_ms_median"})
        row["seconds"] = time.perf_counter() - started
        results = record_row(results_path, key, row)
    results = read_results(results_path)  # with the rows of any bench writing beside this one
    write_report(results, out)
    return results


def read_results(results_path: Path) -> dict:
    return json.loads(results_path.read_text()) if results_path.is_file() else {}


def record_row(results_path: Path, key: str, row: dict) -> dict:
    """Add one row to ``results.json`` under a lock, re-reading it first: benches of other methods
    may be writing to the same folder (e.g. one per core)."""
    with open(results_path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = read_results(results_path)
        results[key] = row
        write_json(results_path, results)
    return results


COLUMNS = [("method", "{}"), ("steps", "{}"), ("sparsity", "{:.1%}"), ("success_rate", "{:.2f}"),
           ("gflops", "{:.2f}"), ("flops_cut", "{:.1%}"), ("latency_ms", "{:.1f}"), ("latency_iqr_ms", "{:.1f}"),
           ("speedup", "{:.2f}x"), ("speedup_over_own_dense", "{:.2f}x"), ("amdahl_limit", "{:.2f}x"),
           ("share_of_limit", "{:.0%}"),
           ("actions_per_s", "{:.0f}"), ("speedup_batch8", "{:.2f}x")]


def table_columns(rows: list[dict]) -> list[tuple[str, str]]:
    """COLUMNS with one column per task level the rows report after the success rate: every level of
    Kitchen, none for a one-task env."""
    levels = task_level_keys({key for row in rows for key in row})
    after_success = [column for column, _ in COLUMNS].index("success_rate") + 1
    return COLUMNS[:after_success] + [(level, "{:.2f}") for level in levels] + COLUMNS[after_success:]


def markdown_table(rows: list[dict]) -> str:
    columns = table_columns(rows)
    lines = ["| " + " | ".join(c for c, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column, fmt in columns:
            value = row.get(column)
            cells.append("-" if value is None else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


FAMILY_ORDER = ("dense", "ddim", "interval", "bac", "l2c", "tail")  # then the learned planners


def table_order(row: dict) -> tuple:
    """Anchors first, then the learned planners; within a family by step count, then sparsity."""
    family = FAMILY_ORDER.index(row["family"]) if row["family"] in FAMILY_ORDER else len(FAMILY_ORDER)
    steps = row["steps"] if row["family"] == "ddim" else -row["steps"]
    return family, steps, row["sparsity"]


def write_report(results: dict, out: Path) -> None:
    by_policy: dict[str, list[dict]] = {}
    for row in sorted(results.values(), key=table_order):
        by_policy.setdefault(row["policy"], []).append(row)
    text = []
    for name, rows in by_policy.items():
        text += [f"## {name}", "", markdown_table(rows), ""]
    (out / "results.md").write_text("\n".join(text))
    try:
        plot(by_policy, out)
    except ImportError:  # matplotlib is a core dependency; guard only against broken installs
        pass


def success_score(row: dict) -> float | None:
    """The y value of the success plot: the success rate, or for a multi-task env the mean number of
    tasks completed (p1 + p2 + ..., since E[n] = sum of P(n >= k)): Kitchen's p4 is 0 on every row of
    a weak policy and separates nothing, while the mean counts every level."""
    levels = task_levels(row)
    return float(sum(levels)) if levels else row.get("success_rate")


def task_levels(row: dict) -> list[float]:
    """The row's p1, p2, ... values in order (multi-task envs only)."""
    return [row[key] for key in task_level_keys(row)]


def success_error_bar(row: dict, score: float) -> list[list[float]] | None:
    """The 95% interval of a success rate as error-bar lengths; a mean task count has none."""
    if "success_ci95" not in row or task_levels(row):
        return None
    low, high = row["success_ci95"]
    return [[max(0.0, score - low)], [max(0.0, high - score)]]  # rounding can put a bound a hair past the rate


def plot(by_policy: dict[str, list[dict]], out: Path) -> None:
    """``bench.png``: success against speedup (when any row has episodes) beside speedup against sparsity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [success_score(row) for rows in by_policy.values() for row in rows]
    measured = [score for score in scores if score is not None]
    fig, axes = plt.subplots(1, 2 if measured else 1, figsize=(12 if measured else 6, 4.5), squeeze=False)
    if measured:  # a speed-only bench (--episodes 0) has nothing to put on a success axis
        plot_success(axes[0][0], by_policy, top=max(measured) or 1.0)
    plot_speed(axes[0][-1], by_policy)
    fig.tight_layout()
    fig.savefig(out / "bench.png", dpi=120)
    plt.close(fig)


def plot_success(ax, by_policy: dict[str, list[dict]], top: float) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    families = sorted({row["family"] for rows in by_policy.values() for row in rows})
    colours = dict(zip(families, plt.get_cmap("tab10").colors))
    labelled: list[tuple[float, float]] = []
    for rows in by_policy.values():
        for row in rows:
            score = success_score(row)
            if score is not None:  # colour: family; marker: DDPM-100 (o) or fewer steps (^)
                ax.errorbar(row["speedup"], score, yerr=success_error_bar(row, score), color=colours[row["family"]],
                            fmt="o" if row["steps"] == rows[0]["steps"] else "^", elinewidth=0.6, capsize=2)
                # rows at about the same place (e.g. BAC and DDIM at one speed) stack their labels
                where = (np.log10(row["speedup"]), score / top)
                crowd = sum(abs(x - where[0]) < 0.2 and abs(y - where[1]) < 0.04 for x, y in labelled)
                labelled.append(where)
                ax.annotate(row["method"], (row["speedup"], score), fontsize=6, xytext=(3, 3 + 8 * crowd),
                            textcoords="offset points")
    for family, colour in colours.items():
        ax.scatter([], [], color=colour, label=family)
    ax.set_xscale("log")
    ax.margins(y=0.12)  # room for stacked labels under the title
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(  # 2x, 3x, 5x, 20x, ...: enough to read, none overlapping
        lambda value, _: f"{value:g}x" if round(value / 10 ** np.floor(np.log10(value))) in (2, 3, 5) else ""))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.legend(fontsize=7)
    ax.set_xlabel("speedup over dense (batch 1)"), ax.set_ylabel("success rate, 95% CI (multi-task: mean tasks done)")
    ax.set_title("success vs speedup")


def plot_speed(ax, by_policy: dict[str, list[dict]]) -> None:
    for name, rows in by_policy.items():
        sparse = sorted((r for r in rows if r["steps"] == rows[0]["steps"]), key=lambda r: r["sparsity"])
        ax.scatter([r["sparsity"] for r in sparse], [r["speedup"] for r in sparse], label=name)
        if sparse:
            dense, floor = sparse[0]["dense_latency_ms"], np.median([r["floor_ms"] for r in sparse])
            grid = np.linspace(0, 0.99, 100)
            share = floor_compute_share(sparse[0]["steps"])
            grid = grid[grid <= 1 - share]
            ax.plot(grid, [amdahl_limit(dense, floor, s, share) for s in grid], "--", label=f"{name} Amdahl limit")
    ax.set_xlabel("sparsity"), ax.set_ylabel("speedup"), ax.set_title("speedup vs sparsity")
    ax.legend(fontsize=7)
