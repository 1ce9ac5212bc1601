"""A trained policy sharing the wheel with the scripted expert during collection (DAgger).

A cloned policy drifts to states the expert never visits (a gripper 5 cm too high in front of
Kitchen's light switch) and, never having seen the way back, stays there. DAgger (Ross et al.
2011) records the expert's answer in the states the *policy* reaches: the policy drives for some
action chunks, the expert for the others, and every step is labelled with the expert's clean
action. That needs a labeller whose answer depends on the state alone: the scripted experts are
closed loop in their targets, but their stage progress (timeouts, a remembered grip point) is not
in the observation, and one round on Kitchen made the policy worse (BENCHMARKS.md, "Fix 3").

Control passes only at chunk boundaries (every ``n_action_steps``), so a policy segment is one
chunk executed as at test time. The policy acts at every step, driving or not, so its observation
history and action queue stay in step with the episode.
"""
from __future__ import annotations

import numpy as np


class PolicyDriver:
    """Chooses, chunk by chunk, whether the policy's or the expert's action is executed.

    Args:
        policy: a :class:`~tts_gym.policy.policy.SparseDiffusionPolicy` for one environment.
        share: probability that the policy drives a chunk (0: expert only, 1: policy only).
    """

    def __init__(self, policy, share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"driver share must be a probability in [0, 1], got {share}")
        self.policy = policy
        self.share = float(share)
        self.segment = policy.config.n_action_steps
        self.rng = np.random.default_rng()
        self._left = 0
        self._driving = False
        self.policy_steps = 0

    def reset(self, seed: int) -> None:
        """Call after every ``env.reset``: a new episode, with the choices and policy noise seeded."""
        self.policy.reset(seed=seed)
        self.rng = np.random.default_rng(seed)
        self._left = 0
        self.policy_steps = 0

    def choose(self, obs: np.ndarray, expert_action: np.ndarray) -> np.ndarray:
        """The action to execute at this step."""
        policy_action = self.policy.act(obs)
        if self._left == 0:
            self._driving = bool(self.rng.random() < self.share)
            self._left = self.segment
        self._left -= 1
        if self._driving:
            self.policy_steps += 1
            return np.asarray(policy_action, dtype=np.float32)
        return expert_action
