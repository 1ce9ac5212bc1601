import itertools

import numpy as np
import pytest

from tts_gym import SamplerConfig
from tts_gym.sparsity import Decision, sparsity
from tts_gym.sparsity.planners.l2c import threshold_scores, train_l2c
from tts_gym.sparsity.planners.static import (
    bac_plan, best_tail_plan, best_update_steps, calibration_residuals, cosine_similarity_matrices, interval_plan,
    tail_plan,
)

from helpers import OBS_DIM, tiny_policy


@pytest.mark.parametrize("interval", [2, 3, 4, 5])
def test_interval_plan_has_expected_sparsity(interval):
    plan = interval_plan(100, 24, interval)
    assert (plan[0] == Decision.COMPUTE).all()
    assert sparsity(plan) == pytest.approx(1 - len(range(0, 100, interval)) / 100)
    assert set(np.unique(plan)) == {Decision.COMPUTE, Decision.REUSE_T}


@pytest.mark.parametrize("updates, tail", [(14, 0), (14, 4), (14, 13), (1, 0), (100, 99)])
def test_tail_plan_computes_step_0_the_tail_and_the_rest_evenly(updates, tail):
    plan = tail_plan(100, 24, updates, tail)
    computed = np.flatnonzero((plan == Decision.COMPUTE).all(axis=1))
    assert len(computed) == updates and ((plan == Decision.COMPUTE).any(axis=1) == (plan == Decision.COMPUTE).all(axis=1)).all()
    assert computed[0] == 0 and set(range(100 - tail, 100)) <= set(computed)
    gaps = np.diff(computed[:updates - tail])
    assert gaps.max() - gaps.min() <= 1 if len(gaps) > 1 else True
    with pytest.raises(ValueError, match="tail"):
        tail_plan(100, 24, updates, updates)


def test_best_tail_plan_scores_every_tail_against_dense_under_the_same_noise():
    policy = tiny_policy(sampler=SamplerConfig("ddim", 10))
    windows = np.random.default_rng(0).normal(size=(4, 2, OBS_DIM)).astype(np.float32)
    plan, errors = best_tail_plan(policy, windows, rho=0.6)
    assert sorted(errors) == list(range(4)) and sparsity(plan) == pytest.approx(0.6)
    assert errors[min(errors, key=errors.get)] == min(errors.values()) and len(set(errors.values())) > 1
    np.testing.assert_array_equal(plan, tail_plan(10, plan.shape[1], 4, min(errors, key=errors.get)))
    # every step computed (the last tail) is dense itself: zero error under the shared noise
    _, all_computed = best_tail_plan(policy, windows, rho=0.01)
    assert all_computed[9] == 0.0 and min(all_computed.values()) == 0.0


def brute_force(similarity, updates):
    steps = len(similarity)
    best, best_set = -np.inf, None
    for rest in itertools.combinations(range(1, steps), updates - 1):
        chosen = (0, *rest)
        score = sum(similarity[k, max(u for u in chosen if u <= k)] for k in range(steps))
        if score > best:
            best, best_set = score, list(chosen)
    return best_set, best


def test_bac_dynamic_programming_is_exact_on_small_cases():
    rng = np.random.default_rng(0)
    for trial in range(20):
        steps, updates = rng.integers(3, 9), rng.integers(1, 5)
        updates = min(updates, steps)
        similarity = rng.uniform(-1, 1, size=(steps, steps))
        np.fill_diagonal(similarity, 1.0)
        picked, score = best_update_steps(similarity, updates)
        expected_set, expected = brute_force(similarity, updates)
        assert score == pytest.approx(expected)
        assert sum(similarity[k, max(u for u in picked if u <= k)] for k in range(steps)) == pytest.approx(expected)
        assert picked[0] == 0 and len(picked) == updates


def test_bac_plan_from_calibration_is_valid_and_bubbles_into_worst_blocks():
    policy = tiny_policy(sampler=SamplerConfig("ddim", 8))
    windows = np.random.default_rng(0).normal(size=(4, 2, OBS_DIM)).astype(np.float32)
    similarity = cosine_similarity_matrices(calibration_residuals(policy, windows))
    assert similarity.shape == (6, 8, 8)
    np.testing.assert_allclose(np.diagonal(similarity, axis1=1, axis2=2), 1.0, atol=1e-5)
    plan = bac_plan(similarity, updates=2, bubble_blocks=0)
    assert ((plan == Decision.COMPUTE).sum(axis=0) == 2).all() and (plan[0] == Decision.COMPUTE).all()
    bubbled = bac_plan(similarity, updates=2, bubble_blocks=2)
    assert (bubbled == Decision.COMPUTE).sum() >= (plan == Decision.COMPUTE).sum()
    policy.planner = __import__("tts_gym").sparsity.FixedPlanner(bubbled)
    policy.predict_action_chunk(windows[0]), policy.predict_action_chunk(windows[1])
    assert policy.last_inference.sparsity == pytest.approx(sparsity(bubbled))


def test_l2c_thresholds_to_the_target_and_trains():
    scores = np.arange(40, dtype=float).reshape(5, 8)
    plan = threshold_scores(scores, rho=0.75)
    assert (plan[0] == Decision.COMPUTE).all() and (plan[1:] == Decision.COMPUTE).sum() == 8
    assert (plan[-1] == Decision.COMPUTE).all()  # the highest scores
    policy = tiny_policy(sampler=SamplerConfig("ddim", 6))
    windows = np.random.default_rng(1).normal(size=(8, 2, OBS_DIM)).astype(np.float32)
    planner = train_l2c(policy, windows, rho=0.5, epochs=2, batch_size=4, progress=False)
    assert (planner.fixed[1:] != Decision.COMPUTE).mean() == pytest.approx(0.5, abs=0.02)


def test_bubbling_union_adds_the_update_steps_of_deeper_ffn_blocks():
    steps, blocks = 10, 6  # two layers: FFN blocks are 2 and 5
    rng = np.random.default_rng(3)
    similarity = np.clip(rng.uniform(0.8, 1.0, size=(blocks, steps, steps)), 0, 1)
    similarity[0] = rng.uniform(-1, 0, size=(steps, steps))  # block 0 reuses badly: the worst
    for j in range(blocks):
        np.fill_diagonal(similarity[j], 1.0)
    plain = bac_plan(similarity, updates=3, bubble_blocks=0)
    bubbled = bac_plan(similarity, updates=3, bubble_blocks=1)
    updates = lambda plan, j: set(np.flatnonzero(plan[:, j] == Decision.COMPUTE))  # noqa: E731
    assert updates(bubbled, 0) == updates(plain, 0) | updates(plain, 2) | updates(plain, 5)
    assert all(updates(bubbled, j) == updates(plain, j) for j in range(1, blocks))
