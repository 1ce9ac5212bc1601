"""Loading weights of the original ``TransformerForDiffusion`` (diffusion_policy) into DP-T."""
from __future__ import annotations

from collections.abc import Mapping

import torch

from .model import DiffusionTransformer

# A DP workspace checkpoint stores the policy; its denoiser sits under ``model.``.
POLICY_PREFIX = "model."
# Entries of a saved ``TransformerForDiffusion`` that are not its weights, and why they are skipped.
# Everything else must fit the model name for name and shape.
IGNORED_ENTRIES = {
    "mask": "the causal mask, rebuilt from the config",
    "memory_mask": "the condition mask, rebuilt from the config",
    "_dummy_variable": "diffusion_policy's ModuleAttrMixin keeps an empty parameter to tell its device",
}


class CheckpointMismatchError(ValueError):
    """A state dict does not fit the model: names what is missing, unexpected or mis-shaped."""


def load_transformer_state_dict(model: DiffusionTransformer, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load a ``TransformerForDiffusion`` state dict as diffusion_policy saves it (bare, or a policy's with
    ``model.`` prefix), skipping the ``IGNORED_ENTRIES``."""
    if any(key.startswith(POLICY_PREFIX) for key in state_dict):
        state_dict = {k[len(POLICY_PREFIX):]: v for k, v in state_dict.items() if k.startswith(POLICY_PREFIX)}
    state_dict = {k: v for k, v in state_dict.items() if k not in IGNORED_ENTRIES}
    expected = {k: v for k, v in model.state_dict().items() if k not in IGNORED_ENTRIES}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshaped = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or misshaped:
        raise CheckpointMismatchError(
            "checkpoint does not fit DP-T "
            f"{model.config}: missing={missing[:8]}{'...' if len(missing) > 8 else ''} "
            f"unexpected={unexpected[:8]}{'...' if len(unexpected) > 8 else ''} misshaped={misshaped[:8]}"
        )
    model.load_state_dict(state_dict, strict=False)
