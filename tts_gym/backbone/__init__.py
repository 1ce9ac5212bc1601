"""The frozen DP-T backbone: model, condition encoder, samplers. Knows nothing of sparsity."""
from .blocks import BlockKind
from .compat import CheckpointMismatchError, load_transformer_state_dict
from .config import BLOCKS_PER_LAYER, BackboneConfig
from .model import DiffusionTransformer
from .sampler import Sampler, SamplerConfig

__all__ = [
    "BLOCKS_PER_LAYER", "BackboneConfig", "BlockKind", "CheckpointMismatchError", "DiffusionTransformer",
    "Sampler", "SamplerConfig", "load_transformer_state_dict",
]
