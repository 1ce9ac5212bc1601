"""Yaw helpers and end-effector reads shared by the robosuite experts and observation features."""
from __future__ import annotations

import numpy as np


def wrap_angle(angle: float, period: float = 2 * np.pi) -> float:
    """``angle`` moved into ``[-period / 2, period / 2)``."""
    return (angle + period / 2) % period - period / 2


def yaw_of_matrix(rotation: np.ndarray) -> float:
    """Heading of a 3x3 rotation matrix about the world z axis."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def eef_position(sim_env) -> np.ndarray:
    """World position of a single-arm robosuite robot's end-effector site."""
    site = sim_env.robots[0].eef_site_id["right"]
    return np.array(sim_env.sim.data.site_xpos[site])


def eef_yaw(sim_env) -> float:
    site = sim_env.robots[0].eef_site_id["right"]
    return yaw_of_matrix(np.array(sim_env.sim.data.site_xmat[site]).reshape(3, 3))
