"""Dense DP-T training (the backbone that test-time sparsity later accelerates)."""
from .config import PRESETS, ModelShape, TrainConfig
from .trainer import Trainer, TrainResult

__all__ = ["PRESETS", "ModelShape", "TrainConfig", "TrainResult", "Trainer"]
