"""Does a policy lean on observation dimensions that carry no task information?

    python scripts/pin_observation.py --policy outputs/policies/kitchen300light.pt --max-range 0.05 --skip 18

Evaluates the policy (like ``tts-gym eval``) with the observation dimensions whose demonstration range
is below ``--max-range`` held at the middle of that range, or, with ``--clip``, with every normalised
observation clamped to [-1, 1] instead. Dimensions that barely move in the demos (Kitchen's burner
knobs and hinge doors, brushed in passing) carry no task information; a policy that loses success when
they are held still was using their noise. ``--skip N`` leaves the first N dimensions alone (Kitchen's
arm and finger joints and velocities: 18). ``--velocities I`` also holds dimensions ``I:`` (59-d Kitchen:
39, the object velocities). Prints the summary of ``tts_gym.evaluation.evaluate`` as JSON.
"""
from __future__ import annotations

import argparse
import json

import torch

from tts_gym import SparseDiffusionPolicy
from tts_gym.data import FieldNormalizer, Normalizer
from tts_gym.evaluation.evaluate import evaluate
from tts_gym.evaluation.metrics import task_level_keys

SUMMARY_KEYS = ("episodes", "success_rate")


class PinnedObservation(FieldNormalizer):
    """Normalises as fitted, then holds ``pinned`` dimensions at 0 (mid-range) and clamps to ``clip``."""

    def __init__(self, fitted: FieldNormalizer, pinned: torch.Tensor, clip: float | None):
        super().__init__(fitted.scale, fitted.offset, fitted.min, fitted.max)
        self.pinned, self.clip = pinned, clip

    def normalize(self, x):
        y = torch.as_tensor(super().normalize(x)).clone()
        y[..., self.pinned] = 0.0
        if self.clip is not None:
            y = y.clamp(-self.clip, self.clip)
        return y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--max-range", type=float, default=0.0, help="hold dims whose demo range is below this")
    parser.add_argument("--skip", type=int, default=0, help="never hold the first N dims")
    parser.add_argument("--velocities", type=int, default=None, metavar="I", help="also hold dims I and after")
    parser.add_argument("--clip", type=float, default=None, help="clamp normalised observations to [-C, C]")
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--envs", type=int, default=4)
    args = parser.parse_args()

    policy = SparseDiffusionPolicy.from_pretrained(args.policy, sampler=args.sampler, steps=args.steps)
    fitted = policy.normalizer["obs"]
    pinned = (fitted.max - fitted.min) < args.max_range
    pinned[: args.skip] = False
    if args.velocities is not None:
        pinned[args.velocities :] = True
    pinned_obs = PinnedObservation(fitted, pinned, args.clip)
    normalizer = Normalizer({"obs": pinned_obs, "action": policy.normalizer["action"]})
    probe = SparseDiffusionPolicy(policy.model, normalizer, policy.config, policy.planner)
    summary = evaluate(probe, episodes=args.episodes, num_envs=args.envs, progress=False)
    print(json.dumps({"held_dims": pinned.nonzero().flatten().tolist(), "clip": args.clip,
                      **{key: summary[key] for key in (*SUMMARY_KEYS, *task_level_keys(summary))}}))


if __name__ == "__main__":
    main()
