"""The Ray backend on a Ray instance started on this machine: it finishes a run the local runner began
with the same episodes, logging each as it arrives, and a worker that dies mid-task has its episodes rerun."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import WORKER_ENV_ID, register_worker_envs, tiny_policy
from tts_gym.evaluation.evaluate import episode_runner, evaluate

ray = pytest.importorskip("ray")
from tts_gym.evaluation.ray_backend import run_episodes_ray  # noqa: E402

pytestmark = pytest.mark.slow  # starting Ray and its worker processes takes seconds


@pytest.fixture(scope="module")
def local_ray():
    """One two-CPU Ray instance for the module; its workers find the test envs through the setup hook."""
    python_path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": python_path},
                          "worker_process_setup_hook": "helpers.register_worker_envs"})
    register_worker_envs()
    yield
    ray.shutdown()


def seeds_and_outcomes(folder: Path) -> list[tuple[int, bool, int]]:
    lines = [json.loads(line) for line in (folder / "episodes.jsonl").read_text().splitlines()]
    return sorted((line["seed"], line["success"], line["steps"]) for line in lines)


def test_ray_finishes_a_local_run_with_the_same_episodes(local_ray, tmp_path):
    settings = dict(env=WORKER_ENV_ID, seed_start=100, progress=False)
    local = evaluate(tiny_policy(), episodes=8, out=tmp_path / "local", num_envs=2, **settings)
    evaluate(tiny_policy(), episodes=5, out=tmp_path / "mixed", **settings)  # as if stopped after 5 episodes
    resumed = evaluate(tiny_policy(), episodes=8, out=tmp_path / "mixed", backend="ray", workers=2, **settings)
    assert seeds_and_outcomes(tmp_path / "mixed") == seeds_and_outcomes(tmp_path / "local")
    assert 0 < local["success_rate"] < 1  # the outcomes follow the policy's noise: they compare episodes
    same = ("episodes", "success_rate", "mean_steps")
    assert {k: resumed[k] for k in same} == {k: local[k] for k in same}


def test_a_dead_workers_episodes_rerun_on_a_fresh_worker(local_ray, tmp_path):
    marker = tmp_path / "died"
    arrived = []
    results = run_episodes_ray(tiny_policy(), WORKER_ENV_ID, range(4), workers=2, progress=False,
                               on_episode_end=arrived.append,
                               env_kwargs={"die_on_seed": 2, "marker": str(marker)})
    assert marker.exists()  # the worker running seed 2 was lost once
    assert sorted(r.seed for r in results) == sorted(r.seed for r in arrived) == [0, 1, 2, 3]


def test_workers_belong_to_the_ray_backend():
    with pytest.raises(ValueError, match="workers are Ray's"):
        episode_runner("local", workers=2)
    with pytest.raises(ValueError, match="backend must be one of"):
        episode_runner("dask")
