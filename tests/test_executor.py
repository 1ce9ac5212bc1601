import numpy as np
import pytest
import torch

from tts_gym.backbone import DiffusionTransformer, Sampler, SamplerConfig
from tts_gym.sparsity import Decision, PlanError, PlanExecutor, ResidualCache, dense_plan, enforce_warmup
from tts_gym.sparsity.plan import availability

from helpers import randomize, tiny_backbone


def setup(sampler_config=SamplerConfig("ddim", 8), batch=3, seed=0):
    config = tiny_backbone()
    model = randomize(DiffusionTransformer(config), seed).eval()
    sampler = Sampler(sampler_config)
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, config.n_obs_steps, config.obs_dim, generator=g)
    sample = torch.randn(batch, config.horizon, config.action_dim, generator=g)
    noise = torch.randn(sampler.num_steps, *sample.shape, generator=g)
    return model, sampler, obs, sample, noise


def random_plan(batch, steps, blocks, rng, codes=(0, 1, 2, 3)):
    plan = rng.choice(np.array(codes, dtype=np.int8), size=(batch, steps, blocks))
    return enforce_warmup(plan, np.zeros(batch, bool))


@pytest.mark.parametrize("sampler_config", [SamplerConfig(), SamplerConfig("ddim", 8)])
def test_dense_plan_equals_plain_dense_loop(sampler_config):
    model, sampler, obs, sample, noise = setup(sampler_config)
    memory = model.encode_condition(obs, sampler.timesteps)
    cache = ResidualCache(sampler.num_steps, model.config.n_blocks)
    ours = PlanExecutor(model, sampler).run(memory, dense_plan(3, sampler.num_steps, model.config.n_blocks),
                                            sample, noise, cache)
    scheduler, x = sampler_config.make_scheduler(), sample
    with torch.no_grad():
        for k, t in enumerate(scheduler.timesteps):
            eps = model(x, t, obs)
            x = sampler.step(k, eps, x, noise[k])  # the update itself is checked against diffusers in test_backbone
    torch.testing.assert_close(ours, x, atol=1e-5, rtol=1e-5)


def test_batch_equals_single_runs_for_random_mixed_plans():
    model, sampler, obs, sample, noise = setup(batch=4)
    steps, blocks = sampler.num_steps, model.config.n_blocks
    memory = model.encode_condition(obs, sampler.timesteps)
    rng = np.random.default_rng(0)
    first = dense_plan(4, steps, blocks)
    second = random_plan(4, steps, blocks, rng)
    assert (second[:, 1:] == Decision.REUSE_R).any() and len(np.unique(second[:, 3])) > 1
    executor = PlanExecutor(model, sampler)
    batch_cache = ResidualCache(steps, blocks)
    executor.run(memory, first, sample, noise, batch_cache)
    batched = executor.run(memory, second, sample * 0.5, noise, batch_cache)
    for row in range(4):
        cache = ResidualCache(steps, blocks)
        pick = slice(row, row + 1)
        executor.run(memory[pick], first[pick], sample[pick], noise[:, pick], cache)
        single = executor.run(memory[pick], second[pick], sample[pick] * 0.5, noise[:, pick], cache)
        torch.testing.assert_close(batched[pick], single, atol=1e-5, rtol=1e-5)


def test_reuse_changes_the_result_and_differs_per_direction():
    model, sampler, obs, sample, noise = setup(batch=1)
    steps, blocks = sampler.num_steps, model.config.n_blocks
    memory = model.encode_condition(obs, sampler.timesteps)
    executor, cache = PlanExecutor(model, sampler), ResidualCache(steps, blocks)
    dense = executor.run(memory, dense_plan(1, steps, blocks), sample, noise, cache)
    results = []
    for code in (Decision.REUSE_F, Decision.REUSE_T, Decision.REUSE_R):
        plan = enforce_warmup(np.full((1, steps, blocks), code, np.int8), np.zeros(1, bool))
        results.append(executor.run(memory, plan, sample * 0.9, noise, cache))
    assert not torch.allclose(results[0], results[1]) and not torch.allclose(results[1], results[2])
    assert not torch.allclose(results[2], dense)


def test_unavailable_caches_are_refused_before_any_decoder_work():
    model, sampler, obs, sample, noise = setup(batch=2)
    steps, blocks = sampler.num_steps, model.config.n_blocks
    memory = model.encode_condition(obs, sampler.timesteps)
    executor = PlanExecutor(model, sampler)
    calls = []
    model.decoder.layers[-1].linear1.register_forward_pre_hook(lambda *a: calls.append("linear1"))
    model.decoder.layers[0].self_attn.register_forward_pre_hook(lambda *a: calls.append("self_attn"))
    cases = {
        "REUSE_T at row 0, step 0": (0, 0, 4, Decision.REUSE_T),
        "REUSE_F at row 1, step 0, block 0": (1, 0, 0, Decision.REUSE_F),
        "REUSE_R at row 0, step 2": (0, 2, 5, Decision.REUSE_R),  # no earlier act
    }
    for (row, step, block, code) in cases.values():
        plan = dense_plan(2, steps, blocks)
        plan[row, step, block] = code
        with pytest.raises(PlanError, match=code.name):
            executor.run(memory, plan, sample, noise, ResidualCache(steps, blocks))
    with pytest.raises(PlanError, match="shape"):
        executor.run(memory, dense_plan(2, steps + 1, blocks), sample, noise, ResidualCache(steps, blocks))
    with pytest.raises(PlanError, match="codes"):
        executor.run(memory, dense_plan(2, steps, blocks) + 7, sample, noise, ResidualCache(steps, blocks))
    assert calls == []  # the errors came before the decoder ran
    executor.run(memory, dense_plan(2, steps, blocks), sample, noise, ResidualCache(steps, blocks))
    assert "self_attn" in calls and "linear1" in calls  # the hooks do see decoder work


def test_reuse_f_at_step_0_is_available_after_an_earlier_block_of_its_kind():
    plan = dense_plan(1, 2, 6)
    ok = availability(plan, np.zeros((1, 2, 6), bool))
    f = ok[Decision.REUSE_F][0, 0]
    assert f.tolist() == [False, False, False, True, True, True]
    assert ok[Decision.REUSE_T][0, 0].sum() == 0 and ok[Decision.REUSE_T][0, 1].all()


def test_rollout_cache_reset_per_row():
    cache = ResidualCache(2, 6)
    cache.begin_act(3)
    cache.end_act(dense_plan(3, 2, 6))
    cache.reset([1])
    assert cache.fresh_rows(3).tolist() == [False, True, False]
    cache.reset()
    assert cache.fresh_rows(3).all() and cache.rollout_entries() == 0


def test_inference_on_a_subset_of_envs_equals_those_rows_of_a_full_batch():
    model, sampler, obs, sample, noise = setup(batch=3)
    steps, blocks = sampler.num_steps, model.config.n_blocks
    memory = model.encode_condition(obs, sampler.timesteps)
    executor = PlanExecutor(model, sampler)
    full_cache, split_cache = ResidualCache(steps, blocks), ResidualCache(steps, blocks)
    for cache in (full_cache, split_cache):
        executor.run(memory, dense_plan(3, steps, blocks), sample, noise, cache)
    plan = random_plan(3, steps, blocks, np.random.default_rng(1))
    full = executor.run(memory, plan, sample * 0.5, noise, full_cache)
    rows = np.array([0, 2])
    sub = split_cache.subset(rows)
    part = executor.run(memory[rows], plan[rows], sample[rows] * 0.5, noise[:, rows], sub)
    split_cache.merge(rows, sub)
    torch.testing.assert_close(part, full[rows], atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(split_cache.rollout_valid, full_cache.rollout_valid)
    k, j = 3, 4
    torch.testing.assert_close(split_cache.read(Decision.REUSE_R, k, j)[rows],
                               full_cache.read(Decision.REUSE_R, k, j)[rows], atol=1e-5, rtol=1e-5)


def reference_run(model, sampler, memory, plan, sample, noise, rollout: dict) -> torch.Tensor:
    """One act at batch 1 written as plainly as DESIGN.md states the caches: block by block, one entry
    at a time (``rollout`` maps (step, block) to R entries and is updated in place)."""
    latest_of_kind, latest_of_block = {}, {}
    x = sample
    with torch.no_grad():
        for k in range(sampler.num_steps):
            h = model.embed_actions(x)
            for j, decision in enumerate(plan[0, k]):
                if decision == Decision.COMPUTE:
                    residual = model.block_residual(j, h, memory[:, k])
                    latest_of_kind[j % 3] = latest_of_block[j] = rollout[k, j] = residual
                else:
                    residual = {Decision.REUSE_F: latest_of_kind.get(j % 3), Decision.REUSE_T: latest_of_block.get(j),
                                Decision.REUSE_R: rollout.get((k, j))}[decision]
                h = h + residual
            x = sampler.step(k, model.output(h), x, noise[k])
    return x


def test_executor_equals_the_plain_cache_semantics_over_consecutive_acts():
    """Long runs of reused blocks are summed at once, and the same sum is kept while consecutive steps
    read the same entries: the result is still that of adding every entry as the plan says."""
    model, sampler, obs, sample, noise = setup(SamplerConfig("ddim", 16), batch=1)
    steps, blocks = sampler.num_steps, model.config.n_blocks
    memory = model.encode_condition(obs, sampler.timesteps)
    executor, cache, rollout = PlanExecutor(model, sampler), ResidualCache(steps, blocks), {}
    rng = np.random.default_rng(1)
    plans = [dense_plan(1, steps, blocks)]
    for _ in range(3):  # mostly T reads, so runs repeat for several steps and are broken by recomputes
        plan = rng.choice(np.array([0, 1, 2, 3], np.int8), p=[0.1, 0.05, 0.75, 0.1], size=(1, steps, blocks))
        plans.append(enforce_warmup(plan, np.zeros(1, bool)))
    for i, plan in enumerate(plans):
        ours = executor.run(memory, plan, sample * (1 - 0.1 * i), noise, cache)
        expected = reference_run(model, sampler, memory, plan, sample * (1 - 0.1 * i), noise, rollout)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_reuse_runs_group_consecutive_reused_blocks():
    from tts_gym.sparsity.executor import MIXED, reuse_runs

    C, F, T, R = (int(d) for d in Decision)
    assert reuse_runs([[C, T, F, R, C, MIXED, T, T]]) == [[(0, 1), (1, 4), (4, 5), (5, 6), (6, 8)]]


def test_a_plan_delivered_after_step_0_gives_the_same_result_and_caches():
    model, sampler, obs, sample, noise = setup(batch=3)
    memory = model.encode_condition(obs, sampler.timesteps)
    steps, blocks = sampler.num_steps, model.config.n_blocks
    executor, rng = PlanExecutor(model, sampler), np.random.default_rng(4)
    first, second = dense_plan(3, steps, blocks), random_plan(3, steps, blocks, rng)
    outputs, caches = [], []
    for late in (False, True):
        cache = ResidualCache(steps, blocks)
        executor.run(memory, (lambda: first) if late else first, sample, noise, cache)
        outputs.append(executor.run(memory, (lambda: second) if late else second, sample * 0.5, noise, cache))
        caches.append(cache.rollout_valid.copy())
    torch.testing.assert_close(outputs[0], outputs[1], atol=0, rtol=0)
    np.testing.assert_array_equal(caches[0], caches[1])


def test_a_late_plan_must_compute_step_0_and_is_validated():
    model, sampler, obs, sample, noise = setup(batch=1)
    memory = model.encode_condition(obs, sampler.timesteps)
    steps, blocks = sampler.num_steps, model.config.n_blocks
    executor = PlanExecutor(model, sampler)
    reuse_at_0 = np.full((1, steps, blocks), Decision.REUSE_T, np.int8)
    with pytest.raises(PlanError, match="step 0"):
        executor.run(memory, lambda: reuse_at_0, sample, noise, ResidualCache(steps, blocks))
    rollout_read = dense_plan(1, steps, blocks)
    rollout_read[0, 1, 0] = Decision.REUSE_R  # no earlier act: R does not exist
    with pytest.raises(PlanError, match="REUSE_R"):
        executor.run(memory, lambda: rollout_read, sample, noise, ResidualCache(steps, blocks))
