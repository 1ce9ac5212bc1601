"""The user-facing policy: observation handling, rollout state, pipeline, save and load."""
from .checkpoint import CheckpointError
from .config import PolicyConfig
from .observation import ObservationError
from .policy import InferenceRecord, SparseDiffusionPolicy

__all__ = ["CheckpointError", "InferenceRecord", "ObservationError", "PolicyConfig", "SparseDiffusionPolicy"]
