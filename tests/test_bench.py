import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from tts_gym import PolicyConfig, SparseDiffusionPolicy
from tts_gym.backbone.sampler import SamplerConfig
from tts_gym.evaluation.bench import (
    markdown_table, record_row, run_bench, select_methods, speed_of, standard_methods, success_error_bar, success_score,
    table_order,
)
from tts_gym.evaluation.flops import count_inference_flops
from tts_gym.sparsity.plan import sparsity
from tts_gym.sparsity.planners.static import interval_planner
from tts_gym.evaluation.episode_log import EpisodeLogError
from tts_gym.evaluation.evaluate import evaluate
from tts_gym.evaluation.latency import amdahl_limit
from tts_gym.evaluation.metrics import EpisodeResult, summarize, wilson_interval

from helpers import OBS_DIM, TinyEnv, tiny_policy

TINY_ID = "tts_gym_tests/Tiny-v0"
if TINY_ID not in gym.registry:
    gym.register(TINY_ID, entry_point=lambda **kw: TinyEnv(length=10, **kw))


def policy_for_tiny_env():
    p = tiny_policy()
    config = PolicyConfig(p.config.backbone, p.config.sampler, p.config.n_action_steps, p.config.obs_keys, TINY_ID)
    return SparseDiffusionPolicy(p.model, p.normalizer, config, seed=0)


def test_wilson_interval_and_kitchen_levels():
    low, high = wilson_interval(50, 50)
    assert high == pytest.approx(1.0) and 0.9 < low < 0.95
    results = [EpisodeResult(seed=i, success=i == 0, steps=10, num_tasks=4, num_tasks_completed=n,
                             act_ms=[5.0, 1.0, 1.0]) for i, n in enumerate([4, 2, 1, 0])]
    summary = summarize(results)
    assert [summary[f"p{k}"] for k in range(1, 5)] == [0.75, 0.5, 0.25, 0.25]
    assert summary["act_ms_steady_median"] == 1.0


class TwoTaskEnv(TinyEnv):
    """Completes its first task half-way through the episode on even seeds, never the second."""

    def reset(self, *, seed=None, options=None):
        self.seed_value = seed
        return super().reset(seed=seed)

    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        done = 1 if self.seed_value % 2 == 0 and self.t >= self.length // 2 else 0
        return obs, reward, terminated, truncated, {"success": False, "num_tasks": 2, "num_tasks_completed": done}


TWO_TASK_ID = "tts_gym_tests/TwoTask-v0"
if TWO_TASK_ID not in gym.registry:
    gym.register(TWO_TASK_ID, entry_point=lambda **kw: TwoTaskEnv(length=6, **kw))


def test_task_levels_come_from_the_env_not_its_name(tmp_path):
    summary = evaluate(policy_for_tiny_env(), env=TWO_TASK_ID, episodes=4, seed_start=10, progress=False)
    assert (summary["p1"], summary["p2"]) == (0.5, 0.0) and "p3" not in summary
    assert "p1" not in evaluate(policy_for_tiny_env(), episodes=2, progress=False)


def test_an_episode_line_written_before_a_field_existed_still_loads():
    line = EpisodeResult(seed=3, success=True, steps=5, num_tasks_completed=2).to_json()
    del line["num_tasks"]
    assert EpisodeResult.from_json(line) == EpisodeResult(seed=3, success=True, steps=5, num_tasks_completed=2)


def test_eval_films_each_episode_by_seed_with_its_slots_plan(tmp_path):
    imageio = pytest.importorskip("imageio.v2")
    evaluate(policy_for_tiny_env(), episodes=3, seed_start=100, progress=False, num_envs=2, video=tmp_path)
    assert sorted(f.name for f in tmp_path.glob("*.mp4")) == ["seed_100.mp4", "seed_101.mp4", "seed_102.mp4"]
    for video in tmp_path.glob("*.mp4"):
        frames = imageio.mimread(video)
        assert len(frames) == 11  # the reset frame and one per step of the 10-step episode
        plan_panel = frames[-1][:, 352:].astype(int)  # right of the env frame (48x64 scaled to 256 high)
        red = (plan_panel[..., 0] > 180) & (plan_panel[..., 1] < 120) & (plan_panel[..., 2] < 120)
        assert red.sum() > 100  # a dense plan: every block computed, drawn red


def test_eval_writes_per_episode_lines_and_summary(tmp_path):
    summary = evaluate(policy_for_tiny_env(), episodes=3, seed_start=100, out=tmp_path, progress=False, num_envs=2)
    lines = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert sorted(line["seed"] for line in lines) == [100, 101, 102]
    for key in ("seed", "success", "steps", "act_ms_median", "act_ms_p90", "mean_sparsity", "inferences"):
        assert key in lines[0]
    assert summary["episodes"] == 3 and summary["success_rate"] == 1.0 and len(summary["success_ci95"]) == 2
    assert summary["action_steps"] == policy_for_tiny_env().config.n_action_steps and summary["temperature"] == 1.0


def test_eval_resumes_an_interrupted_run_and_refuses_another_policy(tmp_path):
    full = evaluate(policy_for_tiny_env(), episodes=4, seed_start=100, out=tmp_path / "full", progress=False)
    evaluate(policy_for_tiny_env(), episodes=3, seed_start=100, out=tmp_path, progress=False)
    episodes = tmp_path / "episodes.jsonl"
    kept = episodes.read_text().splitlines()[:2]
    episodes.write_text("".join(line + "\n" for line in kept) + kept[0][:25])  # killed while writing seed 102
    resumed = evaluate(policy_for_tiny_env(), episodes=4, seed_start=100, out=tmp_path, progress=False)
    lines = episodes.read_text().splitlines()
    assert lines[:2] == kept and sorted(json.loads(line)["seed"] for line in lines) == [100, 101, 102, 103]
    same = ("episodes", "success_rate", "mean_steps", "mean_sparsity")
    assert {k: resumed[k] for k in same} == {k: full[k] for k in same}

    other = policy_for_tiny_env()
    with torch.no_grad():
        next(other.model.parameters()).add_(1.0)
    with pytest.raises(EpisodeLogError, match="another run.*digest"):
        evaluate(other, episodes=4, seed_start=100, out=tmp_path, progress=False)
    with pytest.raises(EpisodeLogError, match="another run"):  # the same weights, executing fewer actions per chunk
        evaluate(policy_for_tiny_env(), episodes=4, seed_start=100, out=tmp_path, progress=False, action_steps=2)
    with pytest.raises(EpisodeLogError, match="another run"):  # the same weights, sampling at another temperature
        evaluate(policy_for_tiny_env(), episodes=4, seed_start=100, out=tmp_path, progress=False, temperature=0.5)
    assert episodes.read_text().splitlines() == lines
    (tmp_path / "run.json").unlink()
    with pytest.raises(EpisodeLogError, match="unidentified run"):
        evaluate(policy_for_tiny_env(), episodes=4, seed_start=100, out=tmp_path, progress=False)


def test_reuse_on_another_sampler_is_timed_against_its_own_dense_too():
    policy = policy_for_tiny_env()
    windows = list(np.random.default_rng(0).normal(size=(2, 2, OBS_DIM)).astype(np.float32))
    fast = policy.with_planner(None, SamplerConfig("ddim", 16))
    variant = fast.with_planner(interval_planner(16, fast.config.backbone.n_blocks, 4))
    row = speed_of(variant, policy, count_inference_flops(policy, windows[0]), windows, repeats=3)
    assert row["speedup_over_own_dense"] > 0 and row["speedup_over_own_dense"] != row["speedup"]
    assert row["amdahl_limit"] > 0 and row["share_of_limit"] == pytest.approx(row["speedup"] / row["amdahl_limit"])


def test_static_rows_follow_the_requested_reuse_targets():
    policy = policy_for_tiny_env()
    windows = np.random.default_rng(0).normal(size=(4, 2, OBS_DIM)).astype(np.float32)
    methods = {m.name: m for m in standard_methods(policy, windows, rhos=(0.5, 0.93))}
    assert {"bac-0.50", "bac-0.93", "l2c-0.93"} <= set(methods) and "bac-0.90" not in methods
    reuse = {rho: sparsity(methods[f"bac-{rho}"].build(policy).planner.fixed) for rho in ("0.50", "0.93")}
    assert reuse["0.50"] < reuse["0.93"]
    assert sparsity(methods["tail-0.50"].build(policy).planner.fixed) == pytest.approx(0.5)
    # interval reuse at each target too: N = 1 / (1 - rho), beside the short intervals
    assert {"interval-2", "interval-5", "interval-14"} <= set(methods) and "interval-6" not in methods


def test_a_planner_file_named_like_a_computed_method_replaces_it(tmp_path):
    policy = policy_for_tiny_env()
    windows = np.random.default_rng(0).normal(size=(4, 2, OBS_DIM)).astype(np.float32)
    policy.with_planner(interval_planner(policy.sampler.num_steps, policy.config.backbone.n_blocks, 2)).save_planner(
        tmp_path / "shipped.pt")
    methods = standard_methods(policy, windows, rhos=(0.5,), pruner_files={"tail-0.50": str(tmp_path / "shipped.pt")})
    named = [m for m in methods if m.name == "tail-0.50"]
    assert len(named) == 1 and len(methods) == len({m.name for m in methods})
    np.testing.assert_array_equal(named[0].build(policy).planner.fixed,
                                  interval_planner(policy.sampler.num_steps, policy.config.backbone.n_blocks, 2).fixed)


def test_table_lists_anchors_before_learned_planners():
    rows = [{"method": m, "family": f, "steps": k, "sparsity": sp} for m, f, k, sp in [
        ("omni-ddim16-0.90", "omni", 16, 0.84), ("omni-ddpm100-0.90", "omni", 100, 0.9), ("interval-2", "interval", 100, 0.5),
        ("ddim-25", "ddim", 25, 0.0), ("dense", "dense", 100, 0.0), ("ddim-10", "ddim", 10, 0.0)]]
    assert [r["method"] for r in sorted(rows, key=table_order)] == [
        "dense", "ddim-10", "ddim-25", "interval-2", "omni-ddpm100-0.90", "omni-ddim16-0.90"]


def test_table_shows_every_task_level_a_row_reports():
    kitchen = [{"method": "dense", "success_rate": 0.02, "p1": 0.82, "p2": 0.5, "p3": 0.06, "p4": 0.02},
               {"method": "ddim-16"}]  # a speed-only row beside it
    header, _, dense, ddim = markdown_table(kitchen).splitlines()
    assert header.split(" | ")[3:8] == ["success_rate", "p1", "p2", "p3", "p4"]
    assert dense.split(" | ")[4:8] == ["0.82", "0.50", "0.06", "0.02"]
    assert ddim.split(" | ")[4:8] == ["-"] * 4
    assert " p1 " not in markdown_table([{"method": "dense", "success_rate": 0.9}])  # one-task env: no levels


def test_success_plot_counts_every_task_level():
    assert success_score({"success_rate": 0.0, "p1": 0.34, "p2": 0.02, "p3": 0.0, "p4": 0.0}) == pytest.approx(0.36)
    assert success_score({"success_rate": 0.9}) == 0.9
    assert success_score({"method": "dense"}) is None  # speed-only rows are not plotted


def test_success_error_bars_are_the_interval_and_only_for_a_rate():
    assert success_error_bar({"success_rate": 0.5, "success_ci95": [0.4, 0.7]}, 0.5) == [[pytest.approx(0.1)], [pytest.approx(0.2)]]
    assert success_error_bar({"success_rate": 0.0, "success_ci95": [1e-17, 0.07]}, 0.0) == [[0.0], [0.07]]
    kitchen = {"success_rate": 0.0, "success_ci95": [0.0, 0.07], "p1": 0.0, "p2": 0.0}
    assert success_error_bar(kitchen, success_score(kitchen)) is None  # a mean task count has no such interval


def test_amdahl_limit():
    assert amdahl_limit(100.0, 10.0, 0.0) == pytest.approx(1.0)
    assert amdahl_limit(100.0, 10.0, 1.0) == pytest.approx(10.0)
    # a floor that computes step 0 (1/16 of the blocks) is reached when only step 0 is computed
    assert amdahl_limit(100.0, 10.0, 1 - 1 / 16, 1 / 16) == pytest.approx(10.0)
    assert amdahl_limit(100.0, 10.0, 0.0, 1 / 16) == pytest.approx(1.0)
    assert amdahl_limit(100.0, 10.0, 0.9, 1 / 16) > amdahl_limit(100.0, 10.0, 0.9)  # step 0 not counted twice
    with pytest.raises(ValueError, match="floor_compute_share"):
        amdahl_limit(100.0, 10.0, 0.9, 1.0)


def test_a_speed_only_bench_plots_speed_alone(tmp_path):
    """--episodes 0: no success to plot; the report must not fail on an empty log-scaled axis."""
    policy = policy_for_tiny_env()
    windows = list(np.random.default_rng(0).normal(size=(4, 2, OBS_DIM)).astype(np.float32))
    methods = standard_methods(policy, None, quick=True)
    run_bench(policy, "tiny", methods, windows, tmp_path, episodes=0, repeats=3, progress=False)
    import matplotlib.image

    height, width = matplotlib.image.imread(tmp_path / "bench.png").shape[:2]
    assert width < 1.5 * height  # one panel (speed vs sparsity), not two


def test_bench_quick_mode_writes_table_and_plot_and_resumes(tmp_path):
    policy = policy_for_tiny_env()
    windows = list(np.random.default_rng(0).normal(size=(4, 2, OBS_DIM)).astype(np.float32))
    methods = standard_methods(policy, None, quick=True)
    assert [m.name for m in methods] == ["dense", "ddim-16", "interval-4"]
    results = run_bench(policy, "tiny", methods, windows, tmp_path, episodes=1, repeats=3, progress=False)
    row = results["tiny/interval-4"]
    assert row["sparsity"] == pytest.approx(0.75, abs=0.01) and row["flops_cut"] > 0.5
    assert row["success_rate"] == 1.0 and row["speedup"] > 0 and row["amdahl_limit"] >= 1
    assert row["speedup_over_own_dense"] is None  # same sampler: its own dense is the reference
    assert results["tiny/ddim-16"]["amdahl_limit"] is None and results["tiny/ddim-16"]["speedup_over_own_dense"] is None
    assert "| interval-4 |" in (tmp_path / "results.md").read_text()
    assert len((tmp_path / "episodes" / "interval-4" / "episodes.jsonl").read_text().splitlines()) == 1
    assert [m.name for m in select_methods(methods, ["dense", "interval-*"])] == ["dense", "interval-4"]
    with pytest.raises(ValueError, match="no method matches.*ddim-16"):
        select_methods(methods, ["bac-*"])
    assert (tmp_path / "bench.png").stat().st_size > 1000
    record_row(tmp_path / "results.json", "other/dense", {**row, "policy": "other"})  # a bench beside this one
    again = run_bench(policy, "tiny", methods, windows, tmp_path, episodes=1, repeats=3, progress=False)
    assert again["tiny/dense"]["seconds"] == results["tiny/dense"]["seconds"]  # resumed, not re-run
    assert set(again) == set(results) | {"other/dense"} and "## other" in (tmp_path / "results.md").read_text()


def test_frontier_keeps_only_undominated_rows_and_finds_the_fastest_keeping_success(tmp_path):
    from tts_gym.evaluation.frontier import fastest_keeping_success, on_frontier, plot_frontier

    rows = [
        {"method": "dense", "family": "dense", "speedup": 1.0, "success_rate": 0.96, "success_ci95": [0.87, 0.99]},
        {"method": "ddim-2", "family": "ddim", "speedup": 41.0, "success_rate": 0.96, "success_ci95": [0.87, 0.99]},
        {"method": "ddim-4", "family": "ddim", "speedup": 24.0, "success_rate": 0.98, "success_ci95": [0.9, 1.0]},
        {"method": "tts", "family": "tts", "speedup": 59.0, "success_rate": 0.86, "success_ci95": [0.74, 0.93]},
        {"method": "bac", "family": "bac", "speedup": 30.0, "success_rate": 0.90, "success_ci95": [0.79, 0.96]},
        {"method": "speed-only", "family": "ddim", "speedup": 80.0},
    ]
    assert [r["method"] for r in on_frontier(rows)] == ["ddim-4", "ddim-2", "tts"]  # bac: ddim-2 is faster and better
    assert fastest_keeping_success(rows)["method"] == "ddim-2"  # tts is faster but below dense's interval
    plot_frontier(rows, tmp_path / "frontier.png", "test")
    assert (tmp_path / "frontier.png").stat().st_size > 0


def test_pick_keeps_the_candidate_with_most_success_then_most_reuse(tmp_path, capsys):
    from tts_gym.cli import main
    from tts_gym.evaluation.pick import PICKS_FILE, best_of

    rows = [{"planner": name, "success_rate": rate, "mean_sparsity": reuse}
            for name, rate, reuse in [("a", 0.8, 0.9), ("b", 0.9, 0.5), ("c", 0.9, 0.8), ("d", 0.9, 0.8)]]
    assert best_of(rows)["planner"] == "c"  # most success, then most reuse, then the first given
    policy = policy_for_tiny_env()
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    dense = policy.save_planner(tmp_path / "dense.pt")
    sparse = policy.with_planner(interval_planner(steps, blocks, 2)).save_planner(tmp_path / "every_second.pt")
    policy_file = policy.save(tmp_path / "policy.pt")
    assert main(["pick", str(dense), str(sparse), "--policy", str(policy_file), "--episodes", "2",
                 "--results", str(tmp_path / "picks"), "--out", str(tmp_path / "chosen" / "pruner.pt")]) == 0
    assert "every_second.pt (chosen)" in capsys.readouterr().out  # both keep the tiny env's success: reuse decides
    assert (tmp_path / "chosen" / "pruner.pt").read_bytes() == sparse.read_bytes()
    picks = json.loads((tmp_path / "picks" / PICKS_FILE).read_text())
    assert picks["best"] == str(sparse) and picks["seed_start"] == 200_000 and len(picks["candidates"]) == 2
    assert (tmp_path / "picks" / "dense" / "episodes.jsonl").is_file()
    assert main(["pick", str(dense), str(dense), "--policy", str(policy_file), "--episodes", "1"]) == 2
