"""FLOPs of one inference, everything included (condition encoder, planner, decoder, head)."""
from __future__ import annotations

import numpy as np
from torch.utils.flop_counter import FlopCounterMode


def count_inference_flops(policy, obs_window: np.ndarray) -> int:
    """FLOPs of one ``predict_action_chunk`` (what ``act()`` runs when its queue is empty).

    Counts the matrix products and attention that ``FlopCounterMode`` knows (elementwise work is
    not counted, as is usual). Like ``act()``, the call advances the policy's rollout cache: a
    sparse policy should have acted once on the rollout before, otherwise its first, dense,
    inference is what gets counted.
    """
    counter = FlopCounterMode(display=False)
    with counter:
        policy.predict_action_chunk(obs_window)
    return int(counter.get_total_flops())
