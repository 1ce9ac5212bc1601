"""tts_gym: test-time sparsity for transformer diffusion policies, as a Gymnasium plugin."""
from .backbone import BackboneConfig, DiffusionTransformer, SamplerConfig
from .policy import CheckpointError, ObservationError, PolicyConfig, SparseDiffusionPolicy
from .pretrained import pretrained

__version__ = "0.1.0"
__all__ = [
    "BackboneConfig", "CheckpointError", "DiffusionTransformer", "ObservationError", "PolicyConfig",
    "SamplerConfig", "SparseDiffusionPolicy", "pretrained",
]
