"""A trained policy sharing the wheel with the scripted expert during collection (DAgger).

A cloned policy drifts to states the expert never visits (a gripper 6-8 cm too high or low in front of
Kitchen's light switch) and, never having seen the way back, stays there. DAgger (Ross et al.
2011) records the expert's answer in the states the *policy* reaches: the policy drives for some
action chunks, the expert for the others, and every step is labelled with the expert's clean
action. That needs a labeller whose answer depends on the state alone: the scripted experts are
closed loop in their targets, but their stage progress (timeouts, a remembered grip point) is not
in the observation. On Kitchen both rounds measured, with and without ``stages``, made the policy
worse (docs/experiments.md, "DAgger").

The policy takes the wheel only at chunk boundaries (every ``n_action_steps``), so a policy
segment is a chunk executed as at test time, and, with ``stages``, only while the expert is in one
of those stages: the phases whose labels depend on the state alone (a joint-space approach to a
fixed posture, a reach to a fixed point), not on a clock or a remembered grasp. It hands back at
once when the expert leaves them. The policy acts at every step, driving or not, so its
observation history and action queue stay in step with the episode.
"""
from __future__ import annotations

from typing import Collection, Optional

import numpy as np


class PolicyDriver:
    """Chooses, chunk by chunk, whether the policy's or the expert's action is executed.

    Args:
        policy: a :class:`~tts_gym.policy.policy.SparseDiffusionPolicy` for one environment.
        share: probability that the policy drives a chunk (0: expert only, 1: policy only).
        stages: expert stage names (``expert.stage``) in which the policy may drive; None: all.
    """

    def __init__(self, policy, share: float, stages: Optional[Collection[str]] = None) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"driver share must be a probability in [0, 1], got {share}")
        self.policy = policy
        self.share = float(share)
        self.stages = frozenset(stages) if stages is not None else None
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

    def choose(self, obs: np.ndarray, expert_action: np.ndarray, stage: str = "") -> np.ndarray:
        """The action to execute at this step; ``stage`` is the expert's current one."""
        policy_action = self.policy.act(obs)
        if self._left == 0:
            self._driving = bool(self.rng.random() < self.share)
            self._left = self.segment
        self._left -= 1
        if self.stages is not None and stage not in self.stages:
            self._driving = False  # hand back for the rest of the chunk
        if self._driving:
            self.policy_steps += 1
            return np.asarray(policy_action, dtype=np.float32)
        return expert_action
