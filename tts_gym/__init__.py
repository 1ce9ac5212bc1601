"""tts_gym: test-time sparsity for transformer diffusion policies, as a Gymnasium plugin.

Importing the package registers its Gymnasium ids (``tts_gym/Lift-v0`` ...), as every Gymnasium
plugin does; the entry points are strings, so no simulator is imported until an env is made.
``gym.make("tts_gym:tts_gym/Lift-v0")`` needs no import at all: Gymnasium imports ``tts_gym`` first
(Gymnasium 1.x no longer loads plugins from package entry points, so there is none in setup.cfg).
The public names are imported on first use, so ``import tts_gym`` does not pay for torch and diffusers.
"""
from __future__ import annotations

import importlib

from . import envs  # noqa: F401  (registers the ids)

__version__ = "0.1.0"

_EXPORTS = {
    "BackboneConfig": "tts_gym.backbone",
    "DiffusionTransformer": "tts_gym.backbone",
    "SamplerConfig": "tts_gym.backbone",
    "CheckpointError": "tts_gym.policy",
    "ObservationError": "tts_gym.policy",
    "PolicyConfig": "tts_gym.policy",
    "SparseDiffusionPolicy": "tts_gym.policy",
    "pretrained": "tts_gym.zoo",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tts_gym' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
