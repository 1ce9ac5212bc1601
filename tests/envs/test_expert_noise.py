"""The experts' exploration noise: white by default, Ornstein-Uhlenbeck when correlated; clean labels."""
from __future__ import annotations

import numpy as np
import pytest

from tts_gym.envs.experts.base import ScriptedExpert


class ConstantExpert(ScriptedExpert):
    """Always asks for the same action, so whatever varies is the noise."""

    def __init__(self, action, **noise_args):
        super().__init__(_Env(), **noise_args)
        self.action = np.asarray(action, dtype=np.float64)

    def _reset(self):
        pass

    def _clean_action(self, obs):
        return self.action


class _Env:
    unwrapped = None

    def __init__(self):
        self.unwrapped = self


def _noise(expert, steps):
    expert.reset()
    return np.stack([expert.act(None) - expert.clean_action for _ in range(steps)])


def test_white_noise_is_the_same_draw_as_before():
    expert = ConstantExpert(np.zeros(3), noise=0.1, rng=np.random.default_rng(0))
    expected = np.random.default_rng(0).normal(0.0, 0.1, size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(_noise(expert, 4), expected, atol=1e-7)


@pytest.mark.parametrize("noise_steps", [0.0, 5.0])
def test_noise_has_the_requested_std_and_correlation(noise_steps):
    expert = ConstantExpert(np.zeros(2000), noise=0.1, rng=np.random.default_rng(1), noise_steps=noise_steps)
    noise = _noise(expert, 40)
    assert noise.std() == pytest.approx(0.1, rel=0.05)
    lag1 = np.mean(noise[1:] * noise[:-1]) / np.mean(noise**2)
    assert lag1 == pytest.approx(np.exp(-1 / noise_steps) if noise_steps else 0.0, abs=0.03)


def test_clean_action_is_the_clipped_expert_action():
    expert = ConstantExpert([0.5, 3.0, -3.0], noise=0.2, rng=np.random.default_rng(2), noise_steps=3)
    expert.reset()
    executed = expert.act(None)
    np.testing.assert_array_equal(expert.clean_action, np.float32([0.5, 1.0, -1.0]))
    assert not np.allclose(executed, expert.clean_action)
    assert np.all(np.abs(executed) <= 1.0)


def test_reset_restarts_the_noise_process():
    expert = ConstantExpert(np.zeros(3), noise=0.1, rng=np.random.default_rng(3), noise_steps=50)
    first = _noise(expert, 1)[0]
    after_reset = _noise(expert, 1)[0]
    # a fresh stationary draw, not 0.98 x the previous value
    assert not np.allclose(after_reset, np.exp(-1 / 50) * first, atol=0.02)


def test_bad_noise_arguments_are_refused():
    with pytest.raises(ValueError, match="noise_steps"):
        ConstantExpert(np.zeros(1), noise=0.1, noise_steps=-1)
    with pytest.raises(ValueError, match="noise must"):
        ConstantExpert(np.zeros(1), noise=-0.1)
