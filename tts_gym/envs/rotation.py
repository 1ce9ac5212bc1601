"""Yaw helpers shared by the scripted experts and the observation features."""
from __future__ import annotations

import numpy as np


def wrap_angle(angle: float, period: float = 2 * np.pi) -> float:
    """``angle`` moved into ``[-period / 2, period / 2)``."""
    return (angle + period / 2) % period - period / 2


def yaw_of_matrix(rotation: np.ndarray) -> float:
    """Heading of a 3x3 rotation matrix about the world z axis."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))
