"""WindowDataset padding semantics (diffusion_policy's SequenceSampler) and the Normalizer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tts_gym.data import Episode, Normalizer, WindowDataset, split_episodes


def _episode(length: int, start: float = 0.0) -> Episode:
    steps = np.arange(length, dtype=np.float32)[:, None] + start
    return Episode(obs=np.repeat(steps, 3, axis=1), actions=np.repeat(steps + 100, 2, axis=1))


def _reference_windows(length, horizon, pad_before, pad_after):
    """Index windows exactly as diffusion_policy's create_indices + sample_sequence pad them."""
    windows = []
    for start in range(-pad_before, length - horizon + pad_after + 1):
        windows.append([min(max(start + k, 0), length - 1) for k in range(horizon)])
    return windows


@pytest.mark.parametrize("length,n_obs,horizon,n_act", [(5, 2, 4, 2), (12, 2, 10, 8), (3, 2, 10, 8), (7, 1, 1, 1)])
def test_windows_match_diffusion_policy_padding(length, n_obs, horizon, n_act):
    dataset = WindowDataset([_episode(length)], n_obs_steps=n_obs, horizon=horizon, n_action_steps=n_act)
    expected = _reference_windows(length, horizon, n_obs - 1, n_act - 1)
    assert len(dataset) == len(expected)
    for i, rows in enumerate(expected):
        sample = dataset[i]
        assert sample["obs"].shape == (n_obs, 3) and sample["action"].shape == (horizon, 2)
        assert sample["obs"].dtype == torch.float32
        np.testing.assert_array_equal(sample["obs"][:, 0].numpy(), rows[:n_obs])
        np.testing.assert_array_equal(sample["action"][:, 0].numpy(), np.array(rows) + 100)


def test_windows_never_cross_episode_boundaries():
    dataset = WindowDataset([_episode(6, 0), _episode(6, 1000)], n_obs_steps=2, horizon=6, n_action_steps=4)
    for i in range(len(dataset)):
        obs = dataset[i]["obs"][:, 0]
        actions = dataset[i]["action"][:, 0]
        assert (obs < 1000).all() or (obs >= 1000).all()
        assert (actions < 1100).all() or (actions >= 1100).all()


def test_default_action_steps_and_validation():
    dataset = WindowDataset([_episode(20)], n_obs_steps=2, horizon=10)
    assert dataset.n_action_steps == 8
    with pytest.raises(ValueError):
        WindowDataset([_episode(20)], n_obs_steps=3, horizon=2)
    with pytest.raises(ValueError):
        WindowDataset([], n_obs_steps=2, horizon=10)


def test_split_episodes_is_by_episode_and_seeded():
    episodes = [_episode(5, 10 * i) for i in range(20)]
    train, val = split_episodes(episodes, val_ratio=0.1, seed=3)
    assert len(train) == 18 and len(val) == 2
    again_train, again_val = split_episodes(episodes, val_ratio=0.1, seed=3)
    assert [id(e) for e in again_val] == [id(e) for e in val]
    assert not {id(e) for e in train} & {id(e) for e in val}
    assert split_episodes(episodes, 0.0)[1] == []
    assert len(split_episodes(episodes[:2], 0.01)[1]) == 1  # at least one validation episode


def test_normalizer_limits_mode_and_constant_dims():
    obs = np.stack([np.linspace(-3, 5, 50), np.full(50, 7.0)], axis=1).astype(np.float32)
    action = np.random.default_rng(0).uniform(-2, 2, size=(50, 4)).astype(np.float32)
    normalizer = Normalizer.fit(obs=obs, action=action)
    normalized = normalizer.normalize("obs", obs)
    assert isinstance(normalized, np.ndarray)
    np.testing.assert_allclose(normalized[:, 0].min(), -1, atol=1e-6)
    np.testing.assert_allclose(normalized[:, 0].max(), 1, atol=1e-6)
    np.testing.assert_allclose(normalized[:, 1], 0, atol=1e-6)  # constant dim -> 0, not stretched
    np.testing.assert_allclose(normalizer.unnormalize("obs", normalized), obs, atol=1e-5)
    tensor = torch.as_tensor(action, dtype=torch.float64)
    out = normalizer["action"].normalize(tensor)
    assert out.dtype == torch.float64 and out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6


def test_normalizer_state_dict_round_trips_through_torch_save(tmp_path):
    normalizer = Normalizer.fit(obs=np.random.rand(30, 5), action=np.random.rand(30, 2))
    path = tmp_path / "normalizer.pt"
    torch.save(normalizer.state_dict(), path)
    restored = Normalizer.from_state_dict(torch.load(path, weights_only=True))
    x = np.random.rand(4, 5).astype(np.float32)
    np.testing.assert_allclose(restored.normalize("obs", x), normalizer.normalize("obs", x))
    assert set(restored.fields) == {"obs", "action"}


def test_dataset_fit_normalizer_holds_barely_moving_obs_dims_constant():
    twitch = _episode(6)
    twitch.obs[:, 1] = 5.0 + 1e-3 * np.arange(6)  # spans 0.005: a joint brushed in passing
    dataset = WindowDataset([twitch], n_obs_steps=2, horizon=4)
    stretched = dataset.fit_normalizer()["obs"]
    held = dataset.fit_normalizer(obs_range_eps=0.01)["obs"]
    assert stretched.normalize(twitch.obs)[:, 1].max() == pytest.approx(1.0)
    np.testing.assert_allclose(held.normalize(twitch.obs)[:, 1], 1e-3 * np.arange(6), atol=1e-5)
    np.testing.assert_allclose(held.normalize(twitch.obs)[:, 0], stretched.normalize(twitch.obs)[:, 0])
    assert dataset.fit_normalizer(obs_range_eps=0.01)["action"].scale.max() < 1  # actions untouched


def test_dataset_fit_normalizer_covers_all_rows():
    dataset = WindowDataset([_episode(5), _episode(8, 50)], n_obs_steps=2, horizon=4)
    normalizer = dataset.fit_normalizer()
    np.testing.assert_allclose(normalizer["obs"].min.numpy(), 0)
    np.testing.assert_allclose(normalizer["obs"].max.numpy(), 57)
