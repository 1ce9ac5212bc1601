"""Summaries of evaluation episodes: success with a confidence interval, Kitchen's p1..p4, latency."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

Z_95 = 1.959964  # two-sided 95% normal quantile


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval: stays inside [0, 1] and behaves at 0 or n successes, unlike the normal one."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def keeps_success(success_rate: float, reference_ci95: Sequence[float]) -> bool:
    """Whether a method keeps a reference's success: its rate reaches the reference's 95% interval."""
    return success_rate >= reference_ci95[0]


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    steps: int
    num_tasks: int | None = None  # multi-task envs only: how many tasks the episode asked for
    num_tasks_completed: int | None = None
    tasks_completed: list[str] | None = None
    act_ms: list[float] = field(default_factory=list)  # total latency of each inference
    sparsity: list[float] = field(default_factory=list)  # of each inference

    def to_json(self) -> dict:
        record = asdict(self)
        latencies = np.asarray(self.act_ms) if self.act_ms else np.zeros(1)
        record.update(
            inferences=len(self.act_ms),
            act_ms_median=float(np.median(latencies)),
            act_ms_mean=float(latencies.mean()),
            act_ms_p90=float(np.percentile(latencies, 90)),
            mean_sparsity=float(np.mean(self.sparsity)) if self.sparsity else 0.0,
        )
        return record

    @classmethod
    def from_json(cls, record: dict) -> "EpisodeResult":
        """Back from a line of ``to_json`` (the derived statistics are recomputed, not read); a field
        added since the line was written takes its default."""
        return cls(**{name: record[name] for name in cls.__dataclass_fields__ if name in record})


def summarize(results: Sequence[EpisodeResult]) -> dict:
    """Success with its interval, latency, sparsity; for multi-task envs (episodes that report
    ``num_tasks``) also p1..pN, the share of episodes completing at least n tasks."""
    n = len(results)
    successes = sum(r.success for r in results)
    latencies = np.concatenate([r.act_ms for r in results if r.act_ms]) if any(r.act_ms for r in results) else np.zeros(1)
    # the first inference of each rollout is dense by design; the steady state is the rest
    steady = [ms for r in results for ms in r.act_ms[1:]]
    summary = {
        "episodes": n,
        "success_rate": successes / n if n else 0.0,
        "success_ci95": wilson_interval(successes, n),
        "act_ms_median": float(np.median(latencies)),
        "act_ms_steady_median": float(np.median(steady)) if steady else float(np.median(latencies)),
        "mean_sparsity": float(np.mean([s for r in results for s in r.sparsity[1:]] or [0.0])),
        "mean_steps": float(np.mean([r.steps for r in results])) if n else 0.0,
    }
    num_tasks = max((r.num_tasks or 0 for r in results), default=0)
    if num_tasks:
        completed = np.array([r.num_tasks_completed or 0 for r in results])
        for k in range(1, num_tasks + 1):
            summary[task_level_key(k)] = float((completed >= k).mean()) if n else 0.0
    return summary


def task_level_key(k: int) -> str:
    """``p<k>``: the summary key of the share of episodes completing at least k tasks."""
    return f"p{k}"


def task_level_keys(keys) -> list[str]:
    """The task-level keys among ``keys``, in task order (p1, p2, ..., p10)."""
    return sorted((key for key in keys if key[:1] == "p" and key[1:].isdigit()), key=lambda key: int(key[1:]))
