import numpy as np
import pytest

from tts_gym.policy.action_queue import ChunkQueue, TemporalEnsemble

LENGTH, ACTION_DIM = 4, 2


def chunk_predicted_at(step: int) -> np.ndarray:
    """Chunk inferred at ``step``: its entry j, meant for step + j, is 10 * step + j in every action dim."""
    return np.repeat((10.0 * step + np.arange(LENGTH))[:, None], ACTION_DIM, axis=1)


def expected_ensemble(step: int, decay: float) -> float:
    """ACT's weighting written out: the chunks that predicted ``step``, the one inferred at c weighing
    exp(-m * i) with i its rank from the oldest, i.e. exp(decay * (step - c)) up to a common factor."""
    chunks = range(max(0, step - LENGTH + 1), step + 1)
    values = np.array([10.0 * c + (step - c) for c in chunks])
    weights = np.exp(decay * np.array([step - c for c in chunks]))
    return float(values @ weights / weights.sum())


@pytest.mark.parametrize("decay", [0.0, 0.01, 0.7, -0.7])
def test_temporal_ensemble_executes_acts_weighted_mean_of_overlapping_chunks(decay):
    ensemble = TemporalEnsemble(LENGTH, decay)
    ensemble.bind(num_envs=1, action_dim=ACTION_DIM)
    rows = np.array([0])
    for step in range(3 * LENGTH):
        assert ensemble.empty(rows).all()  # every step needs a chunk
        ensemble.fill(rows, chunk_predicted_at(step)[None])
        action = ensemble.pop(rows)
        assert action.dtype == np.float32 and action.shape == (1, ACTION_DIM)
        np.testing.assert_allclose(action[0], expected_ensemble(step, decay), rtol=1e-6)


def test_temporal_ensemble_clears_per_env_and_refuses_to_pop_without_a_prediction():
    ensemble = TemporalEnsemble(LENGTH, 0.0)
    ensemble.bind(num_envs=2, action_dim=ACTION_DIM)
    both = np.array([0, 1])
    for step in range(2):
        ensemble.fill(both, np.stack([chunk_predicted_at(step)] * 2))
        ensemble.pop(both)
    ensemble.clear([1])
    ensemble.fill(both, np.stack([chunk_predicted_at(2)] * 2))
    action = ensemble.pop(both)
    np.testing.assert_allclose(action[0], expected_ensemble(2, 0.0))
    np.testing.assert_allclose(action[1], 20.0)  # env 1 restarted: only the newest chunk counts
    ensemble.clear([0])
    with pytest.raises(RuntimeError, match="fill first"):
        ensemble.pop(np.array([0]))


def test_chunk_queue_executes_each_chunk_in_order_then_asks_for_the_next():
    queue = ChunkQueue(LENGTH)
    queue.bind(num_envs=1, action_dim=ACTION_DIM)
    rows = np.array([0])
    executed = []
    for step in range(2 * LENGTH):
        if queue.empty(rows).all():
            queue.fill(rows, chunk_predicted_at(step)[None])
        executed.append(queue.pop(rows)[0, 0])
    assert executed == [0, 1, 2, 3, 40, 41, 42, 43]
