"""Episodes spread over Ray workers (``tts-gym eval/bench --backend ray``), for sweeps too long for one machine.

Each worker is a Ray actor that receives the policy once (one copy in Ray's object store for all of
them) and then runs episode tasks with the same :func:`run_episodes` as the local backend, so a seed
gives the same episode on either backend. A task is one episode, or ``num_envs`` episodes stepped side
by side in one worker. The driver hands each result to ``on_episode_end`` as it arrives, which is how
:func:`evaluate` writes it to the resumable episode log at once. A task whose worker dies (killed, out
of memory, its node lost) goes back in the queue and a fresh worker takes the dead one's place; a
task that loses its worker :data:`MAX_TRIES` times stops the run (the episodes logged so far stay).

``ray.init()`` joins the cluster named by ``RAY_ADDRESS`` when it is set, else starts one on this
machine; every node needs the same tts_gym installed.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from .metrics import EpisodeResult
from .runner import run_episodes

try:
    import ray
    from ray.exceptions import ObjectLostError, RayActorError, WorkerCrashedError
except ImportError as error:  # the optional extra
    raise ImportError('the Ray backend needs Ray: pip install "tts_gym[ray]"') from error

MAX_TRIES = 3  # workers a task may lose before the run stops: a task that kills every worker is a bug
WORKER_LOST = (RayActorError, WorkerCrashedError, ObjectLostError)


@ray.remote(num_cpus=1)
class EpisodeWorker:
    """Holds one policy and runs episodes of it; one CPU each, so the cluster's cores set the parallelism."""

    def __init__(self, policy, env_id: str, env_kwargs: dict | None, video_dir: str | None) -> None:
        self.policy, self.env_id, self.env_kwargs, self.video_dir = policy, env_id, env_kwargs, video_dir

    def run(self, seeds: list[int]) -> list[EpisodeResult]:
        return run_episodes(self.policy, self.env_id, seeds, num_envs=len(seeds), progress=False,
                            env_kwargs=self.env_kwargs, video_dir=self.video_dir)


def default_workers() -> int:
    """One worker per CPU of the cluster."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_episodes_ray(
    policy,
    env_id: str,
    seeds: Sequence[int],
    num_envs: int = 1,
    on_episode_end: Callable[[EpisodeResult], None] | None = None,
    progress: bool = True,
    env_kwargs: dict | None = None,
    video_dir: str | Path | None = None,
    workers: int | None = None,
) -> list[EpisodeResult]:
    """:func:`run_episodes` on Ray workers: one episode per seed, in the order they finish.

    ``num_envs`` episodes run side by side in each task; ``workers`` defaults to the cluster's CPUs.
    Videos (``video_dir``) are written by the workers, on their own machines."""
    seeds = [int(seed) for seed in seeds]
    if not seeds:
        return []
    if not ray.is_initialized():
        ray.init()
    num_envs = max(1, num_envs)
    pending = deque((seeds[i:i + num_envs], 1) for i in range(0, len(seeds), num_envs))
    workers = max(1, min(workers or default_workers(), len(pending)))
    shared_policy = ray.put(policy)
    video = str(video_dir) if video_dir is not None else None

    def new_worker():
        return EpisodeWorker.remote(shared_policy, env_id, env_kwargs, video)

    idle = [new_worker() for _ in range(workers)]
    running: dict = {}  # task reference -> (worker, (seeds, try))
    results: list[EpisodeResult] = []
    bar = tqdm(total=len(seeds), disable=not progress, desc=f"eval {env_id} ({workers} Ray workers)",
               unit="episode", dynamic_ncols=True)
    try:
        while pending or running:
            while idle and pending:
                worker, task = idle.pop(), pending.popleft()
                running[worker.run.remote(task[0])] = (worker, task)
            (done,), _ = ray.wait(list(running), num_returns=1)
            worker, (task_seeds, tries) = running.pop(done)
            try:
                finished = ray.get(done)
            except WORKER_LOST as error:
                if tries >= MAX_TRIES:
                    raise RuntimeError(f"episodes {task_seeds} lost their Ray worker {tries} times (last: "
                                       f"{type(error).__name__}); the episodes logged so far are kept") from error
                ray.kill(worker)
                pending.appendleft((task_seeds, tries + 1))
                idle.append(new_worker())
                continue
            idle.append(worker)
            for result in finished:
                results.append(result)
                if on_episode_end is not None:
                    on_episode_end(result)
                bar.update(1)
    finally:
        bar.close()
        for worker in idle + [worker for worker, _ in running.values()]:
            ray.kill(worker)
    return results
