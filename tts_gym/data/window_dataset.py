"""Fixed-length training windows cut from episodes, padded the way Diffusion Policy pads them.

A sample is ``{"obs": [To, Do], "action": [Tp, Da]}`` where ``Tp = horizon`` and the observations are the
first ``To`` steps of the same window. Windows may start up to ``To - 1`` steps before the episode
(those steps repeat the first frame) and end up to ``Ta - 1`` steps after it (repeating the last frame),
exactly the window set of diffusion_policy's ``SequenceSampler`` with ``pad_before=To-1`` and
``pad_after=Ta-1``: the policy thus learns the first actions from a history that is just the start
state, and learns to keep acting sensibly when fewer than ``Ta`` real actions remain.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from tts_gym.data.episode import Episode
from tts_gym.data.normalizer import DEFAULT_RANGE_EPS, FieldNormalizer, Normalizer


def split_episodes(
    episodes: Sequence[Episode], val_ratio: float, seed: int = 0
) -> tuple[list[Episode], list[Episode]]:
    """Split episodes (not windows, so no episode leaks into both sets) into ``(train, val)``.

    With ``val_ratio > 0`` at least one episode goes to validation and at least one stays in training,
    as in diffusion_policy's ``get_val_mask``; the choice depends only on ``seed`` and the count.
    """
    count = len(episodes)
    if val_ratio <= 0 or count == 0:
        return list(episodes), []
    if count < 2:
        raise ValueError("a validation split needs at least 2 episodes")
    num_val = min(max(1, round(count * val_ratio)), count - 1)
    val_index = set(np.random.default_rng(seed).choice(count, size=num_val, replace=False).tolist())
    train = [ep for i, ep in enumerate(episodes) if i not in val_index]
    val = [ep for i, ep in enumerate(episodes) if i in val_index]
    return train, val


class WindowDataset(Dataset):
    """Torch dataset of padded ``(To observations, Tp actions)`` windows over a list of episodes.

    Args:
        episodes: the demonstrations (all with the same obs / action sizes).
        n_obs_steps: ``To``, observation history length fed to the policy.
        horizon: ``Tp``, length of the predicted action sequence (and of the window).
        n_action_steps: ``Ta``, actions executed per plan; sets the end padding ``Ta - 1``.
            Default ``horizon - n_obs_steps`` (diffusion_policy's low-dim transformer uses To=2,
            Tp=10, Ta=8).
    """

    def __init__(
        self,
        episodes: Sequence[Episode],
        n_obs_steps: int,
        horizon: int,
        n_action_steps: Optional[int] = None,
    ):
        if not episodes:
            raise ValueError("WindowDataset needs at least one episode")
        if horizon < 1 or not 1 <= n_obs_steps <= horizon:
            raise ValueError(f"need 1 <= n_obs_steps ({n_obs_steps}) <= horizon ({horizon})")
        if n_action_steps is None:
            n_action_steps = max(horizon - n_obs_steps, 1)
        if not 1 <= n_action_steps <= horizon:
            raise ValueError(f"need 1 <= n_action_steps ({n_action_steps}) <= horizon ({horizon})")
        obs_dims = {ep.obs.shape[1] for ep in episodes}
        action_dims = {ep.actions.shape[1] for ep in episodes}
        if len(obs_dims) != 1 or len(action_dims) != 1:
            raise ValueError(f"episodes disagree on sizes: obs {sorted(obs_dims)}, action {sorted(action_dims)}")

        self.n_obs_steps = n_obs_steps
        self.horizon = horizon
        self.n_action_steps = n_action_steps
        self.pad_before = min(n_obs_steps - 1, horizon - 1)
        self.pad_after = min(n_action_steps - 1, horizon - 1)
        self.obs = torch.from_numpy(np.concatenate([ep.obs for ep in episodes]).astype(np.float32))
        self.actions = torch.from_numpy(np.concatenate([ep.actions for ep in episodes]).astype(np.float32))
        self._window_first, self._episode_first, self._episode_last = self._build_index(episodes)
        self._offsets = torch.arange(horizon)

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    def _build_index(self, episodes: Sequence[Episode]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For every window: its (possibly out-of-episode) first buffer row and its episode's row range."""
        window_first, episode_first, episode_last = [], [], []
        buffer_start = 0
        for ep in episodes:
            length = len(ep)
            first_start = -self.pad_before
            last_start = length - self.horizon + self.pad_after
            starts = np.arange(first_start, last_start + 1)
            window_first.append(buffer_start + starts)
            episode_first.append(np.full(len(starts), buffer_start))
            episode_last.append(np.full(len(starts), buffer_start + length - 1))
            buffer_start += length
        return tuple(torch.from_numpy(np.concatenate(part).astype(np.int64)) for part in (window_first, episode_first, episode_last))

    def __len__(self) -> int:
        return len(self._window_first)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rows = self._window_first[index] + self._offsets
        rows = torch.clamp(rows, self._episode_first[index], self._episode_last[index])  # edge padding
        return {"obs": self.obs[rows[: self.n_obs_steps]], "action": self.actions[rows]}

    def fit_normalizer(self, obs_range_eps: float = DEFAULT_RANGE_EPS) -> Normalizer:
        """Min/max normalizer over every observation and action row of the dataset's episodes;
        observation dimensions spanning less than ``obs_range_eps`` are held constant."""
        return Normalizer({
            "obs": FieldNormalizer.fit(self.obs, obs_range_eps),
            "action": FieldNormalizer.fit(self.actions),
        })
