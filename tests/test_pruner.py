from dataclasses import replace

import numpy as np
import pytest
import torch

from tts_gym import SamplerConfig
from tts_gym.sparsity import Decision
from tts_gym.sparsity.planners.learned import PrunerPlanner
from tts_gym.sparsity.pruner import Pruner, PrunerConfig, available_options, straight_through_gates
from tts_gym.sparsity.training.config import PrunerTrainConfig
from tts_gym.sparsity.training.trainer import PrunerTrainer
from tts_gym.sparsity.training.trajectories import TrajectoryStore
from tts_gym.evaluation.flops import count_inference_flops

from helpers import OBS_DIM, tiny_policy


def trajectories(n=6, frames=9, seed=0):
    rng = np.random.default_rng(seed)
    return [np.cumsum(rng.normal(scale=0.2, size=(frames, 2, OBS_DIM)), axis=0).astype(np.float32) for _ in range(n)]


def pruner_for(policy, strategy="omni", **overrides):
    b = policy.config.backbone
    return Pruner(PrunerConfig(strategy, b.n_blocks, b.n_emb, **overrides))


def free_sparsity(policy, rollouts) -> float:
    """Mean reuse share of the decisions a pruner is free to make: acts after a rollout's first, steps after 0."""
    free = []
    for rollout in rollouts:
        policy.reset()
        policy.predict_action_chunk(rollout[0])
        for window in rollout[1:]:
            policy.predict_action_chunk(window)
            free.append((policy.last_inference.plan[:, 1:] != 0).mean())
    return float(np.mean(free))


def memory_of(policy, window):
    obs = policy.normalizer.normalize("obs", torch.from_numpy(window[None]))
    return policy.model.encode_condition(obs, policy.sampler.timesteps)


def test_pruner_logits_cover_every_step_and_block_in_one_call():
    policy = tiny_policy()
    for strategy, options in (("omni", 4), ("one_for_all", 2)):
        logits = pruner_for(policy, strategy)(memory_of(policy, trajectories()[0][0]))
        assert logits.shape == (1, policy.sampler.num_steps, policy.config.backbone.n_blocks, options)


def test_unavailable_options_are_masked():
    valid = np.zeros((1, 3, 6), bool)
    valid[0, 2] = True
    ok = available_options((Decision.COMPUTE, Decision.REUSE_F, Decision.REUSE_T, Decision.REUSE_R),
                           torch.from_numpy(valid))
    assert ok[0, 0].tolist() == [[True, False, False, False]] * 6  # step 0: compute only
    assert ok[0, 1, :, 3].sum() == 0 and ok[0, 2, :, 3].all()  # R only where an earlier act computed
    logits = torch.zeros(1, 3, 6, 4)
    logits[..., 3] = 10.0  # the pruner would love R everywhere
    gates, probs = straight_through_gates(logits, ok)
    assert probs[0, 1, :, 3].sum() == 0 and gates[0, 2, :, 3].sum() == 6
    planner = PrunerPlanner(Pruner(PrunerConfig("omni", 6, 32)))
    assert planner is not None


def test_planner_never_picks_an_unavailable_cache_and_first_act_is_dense():
    policy = tiny_policy()
    pruner = pruner_for(policy)
    with torch.no_grad():
        pruner.head.bias.copy_(torch.tensor([-5.0, 0.0, 0.0, 5.0]))  # prefers R, then F / T
    policy.planner = PrunerPlanner(pruner)
    window = trajectories()[0][0]
    policy.predict_action_chunk(window)
    assert policy.last_inference.sparsity == 0.0  # reset -> dense
    policy.predict_action_chunk(window)
    plan = policy.last_inference.plan
    assert (plan[:, 0] == Decision.COMPUTE).all() and (plan[:, 1:] == Decision.REUSE_R).all()
    policy.reset()
    policy.predict_action_chunk(window)
    assert policy.last_inference.sparsity == 0.0


def test_forced_compute_pruner_equals_dense_exactly():
    dense, sparse = tiny_policy(seed=3), tiny_policy(seed=3)
    pruner = pruner_for(sparse)
    with torch.no_grad():
        pruner.head.bias.copy_(torch.tensor([50.0, 0.0, 0.0, 0.0]))
    sparse.planner = PrunerPlanner(pruner)
    for window in trajectories(n=1)[0][:3]:
        np.testing.assert_array_equal(dense.predict_action_chunk(window), sparse.predict_action_chunk(window))
        assert sparse.last_inference.sparsity == 0.0


def test_batched_plans_equal_single_row_plans():
    """The pruner plans each row from its own observation (execution batch == single is tested in
    test_executor); with R valid for some rows only, each row is masked by its own cache."""
    policy = tiny_policy()
    torch.manual_seed(0)
    pruner = pruner_for(policy)
    with torch.no_grad():
        for layer in (pruner.memory_proj, pruner.cross_kv, pruner.head):  # make decisions hinge on the observation
            layer.weight.mul_(20)
        pruner.head.bias.zero_()
    planner = PrunerPlanner(pruner)
    windows = np.stack([t[0] for t in trajectories(n=3)])
    obs = policy.normalizer.normalize("obs", torch.from_numpy(windows))
    memory = policy.model.encode_condition(obs, policy.sampler.timesteps)
    valid = np.zeros((3, policy.sampler.num_steps, policy.config.backbone.n_blocks), bool)
    valid[[0, 2]] = True
    batched = planner.plan(memory, valid)
    assert len({row.tobytes() for row in batched}) > 1
    assert not (batched[1] == Decision.REUSE_R).any()
    for row in range(3):
        np.testing.assert_array_equal(planner.plan(memory[row:row + 1], valid[row:row + 1])[0], batched[row])


def test_trained_tiny_pruner_hits_its_target_and_backbone_gets_no_gradient(tmp_path):
    policy = tiny_policy(sampler=SamplerConfig("ddim", 8))
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    rollouts = trajectories()
    config = PrunerTrainConfig(rho=0.8, epochs=2, batch_size=4, segment_frames=3, learning_rate=3e-3)
    trainer = PrunerTrainer(policy, rollouts, config, tmp_path)
    history = trainer.train(progress=False)
    assert all(p.grad is None for p in policy.model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in policy.model.state_dict().items())
    assert any(p.grad is not None for p in trainer.pruner.parameters())
    assert len(history) == config.epochs * trainer.batches_per_epoch
    sparse = trainer.sparse_policy()
    assert abs(free_sparsity(sparse, rollouts) - config.rho) <= 0.02
    # a saved pruner reloads into the same plans
    path = sparse.save_planner(tmp_path / "pruner.pt")
    again = policy.with_planner_file(path)
    sparse.reset(), again.reset()
    for window in rollouts[0][:3]:
        np.testing.assert_array_equal(sparse.predict_action_chunk(window, generator=torch.Generator().manual_seed(0)),
                                      again.predict_action_chunk(window, generator=torch.Generator().manual_seed(0)))


def test_the_starting_plan_is_searched_once_per_run_folder(tmp_path, monkeypatch):
    """A resumed run takes the static plan it started at from its folder; another target searches afresh."""
    import tts_gym.sparsity.training.trainer as trainer_module

    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    config = PrunerTrainConfig(rho=0.5, epochs=1, batch_size=3, segment_frames=3)
    first = PrunerTrainer(policy, trajectories(), config, tmp_path)
    plan, searched = first.starting_plan(policy), []
    monkeypatch.setattr(trainer_module, "static_plan", lambda *args: searched.append(args) or plan)
    again = PrunerTrainer(policy, trajectories(), config, tmp_path)
    assert not searched and torch.equal(again.pruner.prior, first.pruner.prior)
    PrunerTrainer(policy, trajectories(), replace(config, rho=0.75), tmp_path)
    assert len(searched) == 1


def test_resume_continues_where_it_stopped(tmp_path):
    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    config = PrunerTrainConfig(epochs=2, batch_size=3, segment_frames=3)
    first = PrunerTrainer(policy, trajectories(), config, tmp_path)
    first.train(progress=False, max_batches=3)
    second = PrunerTrainer(policy, trajectories(), config, tmp_path)
    assert second.try_resume() and second.epoch * second.batches_per_epoch + second.batch_index == 3
    for key, value in first.pruner.state_dict().items():
        torch.testing.assert_close(second.pruner.state_dict()[key], value)
    for key, value in first.start_weights.items():  # where it started, for moved_from_start
        torch.testing.assert_close(second.start_weights[key], value)


def test_moving_average_is_what_a_run_hands_out_and_resumes(tmp_path):
    """With ema_decay the saved pruner is the average of the trained states, and a resumed run
    takes that average up where it stopped."""
    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    config = PrunerTrainConfig(epochs=2, batch_size=3, segment_frames=3, learning_rate=3e-3, ema_decay=0.9)
    straight = PrunerTrainer(policy, trajectories(), config, tmp_path / "straight")
    start = {k: v.clone() for k, v in straight.pruner.state_dict().items()}
    straight.train(progress=False, max_batches=4)
    averaged, last = straight.trained_pruner.state_dict(), straight.pruner.state_dict()
    assert straight.trained_pruner is not straight.pruner
    for key, value in averaged.items():  # the average lies between the start and the last state
        assert not torch.equal(value, last[key]) or torch.equal(start[key], last[key])
    planner = straight.sparse_policy(calibrated=False).planner
    for key, value in planner.pruner.state_dict().items():
        torch.testing.assert_close(value, averaged[key])

    resumed = PrunerTrainer(policy, trajectories(), config, tmp_path / "straight")
    assert resumed.try_resume() and resumed.average.step == straight.average.step > 0
    for key, value in resumed.trained_pruner.state_dict().items():
        torch.testing.assert_close(value, averaged[key])
    with pytest.raises(ValueError, match="ema_decay"):
        PrunerTrainConfig(ema_decay=1.0)


def test_validation_scores_the_hard_plan_on_held_out_rollouts(tmp_path):
    """Held-out rollouts are not trained on; a state's score is deterministic, 0 for a plan that
    computes everything and positive for one that reuses."""
    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    rollouts = trajectories()
    config = PrunerTrainConfig(rho=0.8, epochs=1, batch_size=2, lanes=4, segment_frames=3, validation_rollouts=2)
    trainer = PrunerTrainer(policy, rollouts, config, tmp_path)
    assert len(trainer.lanes.trajectories) == 4 and sorted(trainer.validation) == [4, 5]
    sparse = trainer.sparse_policy()
    score = trainer.validation_fidelity(sparse)
    assert score > 0 and trainer.validation_fidelity(sparse) == score
    assert {rollout for rollout, _ in trainer.references} == {4, 5}  # one dense reference per held-out act
    computing = pruner_for(policy, n_steps=policy.sampler.num_steps)
    with torch.no_grad():
        computing.head.bias.copy_(torch.tensor([50.0, 0.0, 0.0, 0.0]))
    # references run batched, the scored acts one by one: equal up to float summation order
    assert trainer.validation_fidelity(policy.with_planner(PrunerPlanner(computing))) < 1e-5 * score
    with pytest.raises(ValueError, match="leave none"):
        PrunerTrainer(policy, rollouts, replace(config, validation_rollouts=6), tmp_path / "all")


def test_trajectory_store_round_trip_and_resume(tmp_path):
    store = TrajectoryStore(tmp_path / "rollouts.h5")
    with pytest.raises(ValueError, match="no trajectory file"):
        store.load()
    for seed, rollout in enumerate(trajectories(n=2)):
        store.append(rollout, seed=seed, success=True)
    assert store.seeds() == [0, 1]
    np.testing.assert_array_equal(store.load()[1], trajectories(n=2)[1])


def test_pruner_costs_a_small_share_of_a_dense_inference():
    policy = tiny_policy(sampler=SamplerConfig("ddim", 8))
    window = trajectories()[0][0]
    dense = count_inference_flops(policy, window)
    pruner = pruner_for(policy, width=8, n_head=2)
    memory = memory_of(policy, window)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        pruner(memory)
    assert counter.get_total_flops() < 0.1 * dense


def test_paired_fidelity_is_zero_for_a_dense_planner_and_positive_when_sparse():
    from tts_gym.evaluation.fidelity import paired_fidelity

    policy = tiny_policy()
    dense = paired_fidelity(policy, trajectories(n=2, frames=3))
    assert dense["sparse_vs_dense_l1"] == 0.0 and dense["dense_vs_dense_l1"] > 0 and dense["acts"] == 4
    pruner = pruner_for(policy)
    with torch.no_grad():
        pruner.head.bias.copy_(torch.tensor([-5.0, 0.0, 5.0, 0.0]))  # reuse T everywhere
    sparse = paired_fidelity(policy.with_planner(PrunerPlanner(pruner)), trajectories(n=2, frames=3))
    assert sparse["sparse_vs_dense_l1"] > 0 and sparse["sparsity"] > 0.5


def test_recalibration_moves_a_trained_pruner_to_another_target(tmp_path):
    from tts_gym.sparsity.training.trainer import recalibrated

    policy = tiny_policy(sampler=SamplerConfig("ddim", 6))
    rollouts = trajectories(n=4, frames=7)
    trainer = PrunerTrainer(policy, rollouts, PrunerTrainConfig(rho=0.8, epochs=1, batch_size=4, segment_frames=3),
                            tmp_path)
    trainer.train(progress=False)
    moved = recalibrated(trainer.sparse_policy(), rollouts, rho=0.5)
    assert abs(free_sparsity(moved, rollouts) - 0.5) <= 0.05


def test_warm_start_from_another_samplers_pruner(tmp_path):
    """A pruner trained for DDIM-4 seeds training for DDIM-8 (K is folded into the batch: same weights)."""
    short = tiny_policy(sampler=SamplerConfig("ddim", 4))
    config = PrunerTrainConfig(epochs=1, batch_size=3, segment_frames=3)
    source = PrunerTrainer(short, trajectories(), config, tmp_path / "short")
    source.train(progress=False, max_batches=2)
    target = PrunerTrainer(tiny_policy(sampler=SamplerConfig("ddim", 8)), trajectories(), config, tmp_path / "long")
    own_prior = target.pruner.prior.detach().clone()  # its static plan, for its own K
    target.start_from(source.sparse_policy().planner)
    for key, value in source.pruner.state_dict().items():
        if key != "prior":
            torch.testing.assert_close(target.pruner.state_dict()[key], value)
    torch.testing.assert_close(target.pruner.prior.detach(), own_prior)
    other = PrunerTrainer(short, trajectories(), PrunerTrainConfig(width=16, epochs=1, batch_size=3, segment_frames=3),
                          tmp_path / "other")
    with pytest.raises(ValueError, match="expected a pruner with config"):
        other.start_from(source.sparse_policy().planner)


def test_warm_start_from_a_pruner_of_other_weights(tmp_path):
    """A pruner of the policy's previous weights seeds training for the new ones (train-pruner --init),
    although it would not run on them."""
    from tts_gym.policy.checkpoint import CheckpointError, read_planner_checkpoint
    from tts_gym.sparsity.planners import planner_from_state

    config = PrunerTrainConfig(epochs=1, batch_size=3, segment_frames=3)
    source = PrunerTrainer(tiny_policy(sampler=SamplerConfig("ddim", 4)), trajectories(), config, tmp_path / "old")
    source.train(progress=False, max_batches=2)
    path = source.sparse_policy().save_planner(tmp_path / "old.pt")
    retrained = tiny_policy(sampler=SamplerConfig("ddim", 4), seed=1)
    with pytest.raises(CheckpointError, match="trained on other weights"):
        retrained.with_planner_file(path)
    warm = read_planner_checkpoint(path)
    target = PrunerTrainer(retrained, trajectories(), config, tmp_path / "new")
    target.start_from(planner_from_state(warm["planner"]["name"], warm["planner"]["state"]))
    for key, value in source.pruner.state_dict().items():
        torch.testing.assert_close(target.pruner.state_dict()[key], value)
    retrained.save(tmp_path / "policy.pt")
    with pytest.raises(CheckpointError, match="not a tts_gym planner file"):
        read_planner_checkpoint(tmp_path / "policy.pt")


def rollout_store(tmp_path) -> TrajectoryStore:
    store = TrajectoryStore(tmp_path / "rollouts.h5")
    for seed, rollout in enumerate(trajectories(n=3, frames=5)):
        store.append(rollout, seed, success=True)
    return store


def run_train_pruner(store: TrajectoryStore, policy, out, *flags) -> dict:
    """``tts-gym train-pruner`` on a tiny DDIM-4 policy; returns the metadata of the file it wrote."""
    import argparse
    import json

    from tts_gym.sparsity.training import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--policy", str(policy), "--rollouts", str(store.path), "--out", str(out),
                              "--sampler", "ddim", "--steps", "4", "--batch-size", "2", *flags])
    assert cli.run(args) == 0
    return json.loads(json.dumps(torch.load(out, weights_only=True)["metadata"]))


def test_train_pruner_command_warm_starts_and_records_its_inference_choices(tmp_path):
    store = rollout_store(tmp_path)
    old, new = tiny_policy(sampler=SamplerConfig("ddim", 4)), tiny_policy(sampler=SamplerConfig("ddim", 4), seed=1)
    old.save(tmp_path / "old.pt")
    new.save(tmp_path / "new.pt")

    def train(policy, out, *flags):
        return run_train_pruner(store, policy, out, "--epochs", "1", "--segment-frames", "3", *flags)

    train(tmp_path / "old.pt", tmp_path / "old_pruner.pt")
    metadata = train(tmp_path / "new.pt", tmp_path / "new_pruner.pt", "--init", str(tmp_path / "old_pruner.pt"),
                     "--temperature", "0.25", "--temporal-ensemble", "--ensemble-decay", "0.1")
    assert metadata["init"] == str(tmp_path / "old_pruner.pt")
    assert metadata["inference"] == {"action_steps": new.config.n_action_steps, "temperature": 0.25,
                                     "temporal_ensemble": True, "ensemble_decay": 0.1}
    assert new.with_planner_file(tmp_path / "new_pruner.pt").planner.name == "pruner"  # bound to the new weights


def test_stop_after_counts_batches_of_the_whole_run(tmp_path):
    """--stop-after N stops once the run has N batches in all, however many invocations it took."""
    store = rollout_store(tmp_path)
    tiny_policy(sampler=SamplerConfig("ddim", 4)).save(tmp_path / "policy.pt")

    def train(stop_after: int) -> dict:
        return run_train_pruner(store, tmp_path / "policy.pt", tmp_path / "pruner.pt", "--epochs", "5",
                                "--segment-frames", "2", "--stop-after", str(stop_after))

    assert train(2)["batches_done"] == 2
    assert train(3)["batches_done"] == 3  # resumed: one more batch, not three
    assert train(1)["batches_done"] == 3  # already past it: nothing trained


def test_snapshots_are_written_every_n_batches_and_load(tmp_path):
    """--snapshot-every N writes <out>_b<batches>.pt at every multiple of N, resumed runs included."""
    store = rollout_store(tmp_path)
    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    policy.save(tmp_path / "policy.pt")

    def train(stop_after: int) -> dict:
        return run_train_pruner(store, tmp_path / "policy.pt", tmp_path / "pruner.pt", "--epochs", "5",
                                "--segment-frames", "2", "--stop-after", str(stop_after), "--snapshot-every", "2")

    assert train(3)["batches_done"] == 3
    assert train(5)["batches_done"] == 5
    snapshots = sorted(tmp_path.glob("pruner_b*.pt"))
    assert [path.name for path in snapshots] == ["pruner_b2.pt", "pruner_b4.pt"]
    for path, batches in zip(snapshots, (2, 4)):
        assert torch.load(path, weights_only=True)["metadata"]["batches_done"] == batches
        assert policy.with_planner_file(path).planner.name == "pruner"


def test_validated_run_writes_its_best_scoring_state(tmp_path):
    """With held-out rollouts, --out is the snapshot (starting state and final state included) with
    the lowest validation score."""
    store = TrajectoryStore(tmp_path / "rollouts.h5")
    for seed, rollout in enumerate(trajectories(n=4, frames=5)):
        store.append(rollout, seed, success=True)
    tiny_policy(sampler=SamplerConfig("ddim", 4)).save(tmp_path / "policy.pt")
    picked = run_train_pruner(store, tmp_path / "policy.pt", tmp_path / "pruner.pt", "--epochs", "5", "--lr", "3e-2",
                              "--segment-frames", "2", "--stop-after", "5", "--snapshot-every", "2",
                              "--validation-rollouts", "1", "--rho", "0.5")
    scores = {int(path.stem.split("_b")[-1]): torch.load(path, weights_only=True)["metadata"]["validation_l1"]
              for path in tmp_path.glob("pruner_b*.pt")}
    assert sorted(scores) == [0, 2, 4, 5]
    assert picked["validation_l1"] == min(scores.values())
    assert scores[picked["batches_done"]] == picked["validation_l1"]


def test_prior_table_starts_the_pruner_exactly_at_the_static_plan(tmp_path):
    """After 0 training steps the pruner's plan and chunks are BAC's at the same reuse."""
    from tts_gym.sparsity.planners import FixedPlanner
    from tts_gym.sparsity.training.trainer import spread, static_plan

    policy = tiny_policy()
    rollouts = trajectories()
    config = PrunerTrainConfig(rho=0.75, epochs=1, batch_size=3, segment_frames=3, calibration_windows=4,
                               init_plan="bac")
    trainer = PrunerTrainer(policy, rollouts, config, tmp_path / "run")
    bac = static_plan(policy, spread(trainer.planned_windows, 4), 0.75, "bac")
    assert 0 < (bac != Decision.COMPUTE).mean() < 1
    untrained = trainer.sparse_policy()
    static = policy.with_planner(FixedPlanner(bac))
    for rollout in rollouts[:2]:
        untrained.reset(), static.reset()
        for f, window in enumerate(rollout):
            a = untrained.predict_action_chunk(window, generator=torch.Generator().manual_seed(f))
            b = static.predict_action_chunk(window, generator=torch.Generator().manual_seed(f))
            np.testing.assert_array_equal(untrained.last_inference.plan, static.last_inference.plan)
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cannot choose"):
        pruner_for(policy, "one_for_all", n_steps=policy.sampler.num_steps).start_from_plan(bac)


def test_a_static_plan_file_starts_the_pruner_at_that_plan(tmp_path):
    """--init with a static plan (here one hand-made) sets the prior table to it, whatever --init-plan says,
    and --init-plan's plan is not searched."""
    from tts_gym.sparsity.planners import FixedPlanner
    from tts_gym.sparsity.training.trainer import START_PLAN_FILE

    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    plan = np.full((4, policy.config.backbone.n_blocks), Decision.REUSE_T, np.int8)
    plan[[0, 2]] = Decision.COMPUTE
    trainer = PrunerTrainer(policy, trajectories(), PrunerTrainConfig(rho=0.5, epochs=1, batch_size=3, segment_frames=3,
                                                                      init_plan="interval"), tmp_path,
                            warm_start=FixedPlanner(plan))
    assert not (tmp_path / START_PLAN_FILE).exists()
    assert trainer.moved_from_start() == 0.0 and trainer.moved_from_start(offset=1e3) > 0  # all computed
    sparse = trainer.sparse_policy(calibrated=False)
    sparse.predict_action_chunk(trajectories()[0][0])  # a rollout's first act is dense
    for window in trajectories()[0][1:4]:
        sparse.predict_action_chunk(window)
        np.testing.assert_array_equal(sparse.last_inference.plan[0], plan)


def test_executed_action_weights_match_what_the_queue_executes():
    """Perturb one predicted action of one chunk and measure how much of it reaches the env."""
    from tts_gym.policy.action_queue import ChunkQueue, TemporalEnsemble

    for queue in (ChunkQueue(4), TemporalEnsemble(4, 0.1), TemporalEnsemble(4, -0.3)):
        shares = queue.execution_shares()
        assert shares.sum() == pytest.approx(1.0)
        reached = []
        for a in range(4):
            queue.bind(1, 1)
            executed = 0.0
            for step in range(12):  # steady state first, then the perturbed chunk at step 6
                if queue.empty(np.array([0]))[0]:
                    chunk = np.zeros((1, 4, 1), np.float32)
                    if step == 6 or (isinstance(queue, ChunkQueue) and step == 8):
                        chunk[0, a, 0] = 1.0
                    queue.fill(np.array([0]), chunk)
                executed += float(queue.pop(np.array([0]))[0, 0])
            reached.append(executed)
        np.testing.assert_allclose(np.array(reached) / sum(reached), shares, rtol=1e-6)
    policy = tiny_policy().with_inference(temporal_ensemble=True, ensemble_decay=0.1)
    weights = policy.executed_action_weights()
    start = policy.config.backbone.n_obs_steps - 1
    assert weights[:start].sum() == 0 and weights[start + policy.config.n_action_steps:].sum() == 0
    np.testing.assert_allclose(weights[start:start + policy.config.n_action_steps], policy.state.queue.execution_shares())


def test_cached_references_equal_recomputed_ones(tmp_path):
    """An act's noise is fixed, so its dense reference is computed once, kept across a resume, and
    equals a fresh dense run under that noise."""
    import shutil
    from dataclasses import replace

    from tts_gym.sparsity.cache import ResidualCache
    from tts_gym.sparsity.plan import dense_plan
    from tts_gym.sparsity.training.trainer import REFERENCES_FILE

    policy = tiny_policy()
    config = PrunerTrainConfig(epochs=2, batch_size=3, segment_frames=3, calibration_windows=4)
    trainer = PrunerTrainer(policy, trajectories(), config, tmp_path / "run")
    trainer.train(progress=False, max_batches=2)
    assert trainer.references
    trainer.save_state()
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    keys = sorted(trainer.references)
    for rollout, frame in (keys[0], keys[-1]):
        sample, noise = policy.draw_noise(1, trainer.act_noise([rollout], [frame]))
        memory = policy.encode(trajectories()[rollout][frame][None])
        fresh = policy.executor.run(memory, dense_plan(1, steps, blocks), sample, noise, ResidualCache(steps, blocks))
        torch.testing.assert_close(trainer.references[rollout, frame], fresh[0])
    resumed = PrunerTrainer(policy, trajectories(), config, tmp_path / "run")
    assert resumed.try_resume() and len(resumed.references) == len(trainer.references)
    for key, chunk in trainer.references.items():
        torch.testing.assert_close(resumed.references[key], chunk)
    # a new run at another rho takes them from its folder; one on other rollouts does not
    (tmp_path / "other").mkdir()
    shutil.copy(tmp_path / "run" / REFERENCES_FILE, tmp_path / "other" / REFERENCES_FILE)
    other_rho = PrunerTrainer(policy, trajectories(), replace(config, rho=0.5), tmp_path / "other")
    assert other_rho.references.keys() == trainer.references.keys()
    moved = [windows + 0.1 for windows in trajectories()]
    assert not PrunerTrainer(policy, moved, replace(config, rho=0.5), tmp_path / "other").references


def test_lanes_play_each_rollout_whole_and_in_order():
    from tts_gym.sparsity.training.lanes import RolloutLanes

    rollouts = [np.full((n, 2, OBS_DIM), i, np.float32) for i, n in enumerate((5, 9, 3, 7, 4, 6))]
    lanes = RolloutLanes(rollouts, lanes=3, batch=2, frames=2, seed=1)
    for epoch in range(3):
        schedule = lanes.schedule(epoch)
        assert len(schedule) == lanes.batches(epoch) >= 5  # 34 acts, lanes of at least 9
        played = {}
        for batch in schedule:
            assert batch.rollouts.shape == batch.frames.shape == (2, 2) and len(set(batch.lanes)) == 2
            for lane, acts, frames in zip(batch.lanes, batch.rollouts, batch.frames):
                played.setdefault(lane, []).extend(zip(acts, frames))
            np.testing.assert_array_equal(lanes.windows(batch.rollouts, batch.frames)[..., 0, 0], batch.rollouts)
        assert sum(map(len, played.values())) == len({act for acts in played.values() for act in acts})  # no act twice
        for acts in played.values():  # a lane starts with a rollout's first act, then plays each rollout to its end
            assert acts[0][1] == 0
            for (r0, f0), (r1, f1) in zip(acts, acts[1:]):
                assert (r1, f1) == (r0, f0 + 1) if f1 else f0 == len(rollouts[r0]) - 1
    assert [b.lanes.tolist() for b in lanes.schedule(0)] != [b.lanes.tolist() for b in lanes.schedule(1)]
    with pytest.raises(ValueError, match="cannot fill 8 lanes"):
        RolloutLanes(rollouts, lanes=8, batch=2, frames=2)
    with pytest.raises(IndexError, match="batches"):
        lanes.batch_of(0, lanes.batches(0))


def test_rollout_cache_carries_across_batches(tmp_path):
    """Carried, a dense act is paid once per rollout (and per lane after a resume); reset, once per batch row."""
    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    rollouts = trajectories(n=4, frames=12)
    for carry in (True, False):
        config = PrunerTrainConfig(epochs=1, batch_size=2, lanes=4, segment_frames=3, carry_rollout_cache=carry,
                                   calibration_windows=4)
        trainer = PrunerTrainer(policy, rollouts, config, tmp_path / str(carry))
        history = trainer.train(progress=False)
        assert len(history) == trainer.lanes.batches(0) >= 6  # 16 runs of 3 acts, 2 per batch
        assert sum(row["dense_acts"] for row in history) == (4 if carry else 2 * len(history))
    resumed = PrunerTrainer(policy, rollouts, replace(config, carry_rollout_cache=True, epochs=2), tmp_path / "resume")
    resumed.train(progress=False, max_batches=3)
    again = PrunerTrainer(policy, rollouts, resumed.config, tmp_path / "resume")
    assert again.try_resume()
    row = again.train_batch(0, 3, np.random.default_rng(0))
    assert row["dense_acts"] == 2  # its lanes restart dense: R is not saved with the state
    with pytest.raises(ValueError, match="segment_frames"):
        PrunerTrainConfig(segment_frames=1, carry_rollout_cache=False)
    with pytest.raises(ValueError, match="lanes"):
        PrunerTrainConfig(batch_size=8, lanes=4)


def test_gated_steps_change_only_which_gates_learn(tmp_path):
    """Running only some steps gated gives the same chunk; the other steps' gates get no gradient."""
    from tts_gym.sparsity.cache import ResidualCache

    policy = tiny_policy()
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    pruner = pruner_for(policy, n_steps=steps)
    window = trajectories()[0][:1]
    memory = policy.encode(window)
    valid = torch.zeros(1, steps, blocks, dtype=torch.bool)
    generator = torch.Generator().manual_seed(3)
    sample, noise = policy.draw_noise(1, generator)
    with torch.no_grad():
        pruner.prior.normal_(generator=generator)
    chunks, grads = [], []
    for gated in (None, [2, 5]):
        pruner.zero_grad()
        gates, _ = straight_through_gates(pruner(memory), available_options(pruner.config.decisions, valid))
        chunk = policy.executor.run_gated(memory, gates, pruner.config.decisions, sample, noise,
                                          ResidualCache(steps, blocks), gated_steps=gated)
        chunk.abs().sum().backward()
        chunks.append(chunk.detach())
        grads.append(pruner.prior.grad.abs().sum((1, 2)))
    torch.testing.assert_close(chunks[0], chunks[1])
    assert (grads[0][1:] > 0).all()
    assert (grads[1][[2, 5]] > 0).all() and grads[1][[0, 1, 3, 4, 6, 7]].sum() == 0


def test_modal_plan_takes_the_most_frequent_decision_and_compute_on_ties():
    from tts_gym.sparsity.planners.frozen import modal_plan

    C, F, T, R = (int(d) for d in Decision)
    plans = np.array([[[C, T, T, R]], [[T, T, F, R]], [[T, R, F, C]], [[C, T, R, R]]], np.int8)
    np.testing.assert_array_equal(modal_plan(plans), [[C, T, F, R]])  # column 0: C and T tie -> C


def test_frozen_pruner_is_its_static_plan_when_no_decision_depends_on_the_observation(tmp_path):
    """A pruner at its prior plan decides the same everywhere: frozen, it is that plan exactly,
    with the same actions; a pruner whose decisions hinge on the observation reports how often."""
    from tts_gym.sparsity.planners.base import FixedPlanner
    from tts_gym.sparsity.training.trainer import frozen

    policy = tiny_policy()
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    plan = np.random.default_rng(0).choice(np.array([0, 1, 2, 3], np.int8), size=(steps, blocks))
    plan[0] = Decision.COMPUTE
    pruner = pruner_for(policy, n_steps=steps)
    pruner.start_from_plan(plan)
    sparse = policy.with_planner(PrunerPlanner(pruner))
    rollouts = trajectories(n=3)
    fixed, report = frozen(sparse, rollouts)
    assert isinstance(fixed.planner, FixedPlanner)
    np.testing.assert_array_equal(fixed.planner.fixed, plan)
    assert report.decisions_changed == 0.0 and report.acts_changed == 0.0 and report.acts == 3 * 8
    assert report.reuse == pytest.approx((plan != Decision.COMPUTE).mean())
    for f, window in enumerate(rollouts[0]):
        a = sparse.predict_action_chunk(window, generator=torch.Generator().manual_seed(f))
        b = fixed.predict_action_chunk(window, generator=torch.Generator().manual_seed(f))
        np.testing.assert_array_equal(a, b)

    torch.manual_seed(0)
    hinging = pruner_for(policy)
    with torch.no_grad():
        for layer in (hinging.memory_proj, hinging.cross_kv, hinging.head):
            layer.weight.mul_(20)
        hinging.head.bias.zero_()
    _, report = frozen(policy.with_planner(PrunerPlanner(hinging)), rollouts)
    assert 0 < report.decisions_changed < 1 and 0 < report.acts_changed <= 1


def test_best_static_plan_is_the_family_whose_chunks_are_nearest_dense(tmp_path):
    from tts_gym.sparsity.planners.static import chunk_errors
    from tts_gym.sparsity.training.config import STATIC_FAMILIES
    from tts_gym.sparsity.training.trainer import acts_after_the_first, best_static_plan, spread, static_plan

    policy = tiny_policy(sampler=SamplerConfig("ddim", 8))
    windows = spread(acts_after_the_first(rollout_store(tmp_path).load()), 8)
    plan, family, errors = best_static_plan(policy, windows, 0.6)
    assert set(errors) == set(STATIC_FAMILIES) and errors[family] == min(errors.values())
    np.testing.assert_array_equal(plan, static_plan(policy, windows, 0.6, family))
    assert chunk_errors(policy, windows, {"again": plan})["again"] == pytest.approx(errors[family])
    assert chunk_errors(policy, windows, {"dense": np.zeros_like(plan)})["dense"] == 0.0


@pytest.mark.parametrize("kind", ["tail", "bac", "interval", "best"])
def test_static_command_writes_the_plan_a_pruner_would_start_at(tmp_path, kind):
    """train-pruner --static KIND writes, untrained, the static plan that --init-plan KIND starts a pruner at."""
    from tts_gym.sparsity.training.trainer import acts_after_the_first, spread, static_plan

    store = rollout_store(tmp_path)
    policy = tiny_policy(sampler=SamplerConfig("ddim", 4))
    policy.save(tmp_path / "policy.pt")
    metadata = run_train_pruner(store, tmp_path / "policy.pt", tmp_path / "plan.pt", "--static", kind, "--rho", "0.5")
    assert metadata["static_plan"] == kind and metadata["rho"] == 0.5
    written = policy.with_planner_file(tmp_path / "plan.pt")
    windows = spread(acts_after_the_first(store.load()), PrunerTrainConfig.calibration_windows)
    np.testing.assert_array_equal(written.planner.fixed, static_plan(policy, windows, 0.5, kind))
    assert (written.planner.fixed != 0).mean() == pytest.approx(0.5, abs=0.1)  # BAC bubbles updates in

