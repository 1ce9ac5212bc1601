"""What a Square grasp and insertion depend on, as observations: the handle's offset and two yaw errors.

robomimic's low-dim observation gives the nut's pose as a quaternion. The handle's position and the
yaw the gripper must turn to are nonlinear functions of it, periodic in 180 degrees (the fingers
close across the handle bar from either side) and, for the insertion, in 90 degrees (the square
hole fits the peg four ways). A policy trained on 100 scripted demos with robomimic's observation
closed the gripper 0.2-1.0 rad off the handle and succeeded in 0.08 of the test seeds
(docs/square.md). These seven numbers are the quantities the scripted expert servoes on, so the
policy reads them instead of inferring them:

    handle_to_eef   3  handle position minus the end-effector's (m)
    grasp_yaw       2  cos, sin of 2 x (finger yaw across the handle - eef yaw)
    insertion_yaw   2  cos, sin of 4 x (peg yaw - nut yaw)

Doubling and quadrupling the angles makes each feature continuous where the errors wrap.
"""
from __future__ import annotations

import numpy as np

from tts_gym.envs.geometry import eef_position, eef_yaw, wrap_angle, yaw_of_matrix

FINGER_YAW_OFFSET = np.pi / 2  # gripper yaw relative to the handle direction for a grasp across the bar
GRASP_SYMMETRY = 2  # grasp yaws repeat every 180 degrees
INSERTION_SYMMETRY = 4  # the square hole repeats every 90 degrees
FEATURE_KEYS: tuple[tuple[str, int], ...] = (("handle_to_eef", 3), ("grasp_yaw", 2), ("insertion_yaw", 2))


class SquareGeometry:
    """Reads the nut, its handle, the square peg and the end-effector from a live NutAssemblySquare."""

    def __init__(self, sim_env):
        self.sim_env = sim_env
        nut = sim_env.nuts[sim_env.nut_to_id["square"]]
        self.nut_id = sim_env.obj_body_id[nut.name]
        self.handle_site = sim_env.sim.model.site_name2id(nut.important_sites["handle"])
        self.peg_id = sim_env.peg1_body_id

    @property
    def _data(self):
        return self.sim_env.sim.data

    def eef(self) -> np.ndarray:
        return eef_position(self.sim_env)

    def handle(self) -> np.ndarray:
        return np.array(self._data.site_xpos[self.handle_site])

    def nut(self) -> np.ndarray:
        return np.array(self._data.body_xpos[self.nut_id])

    def peg(self) -> np.ndarray:
        return np.array(self._data.body_xpos[self.peg_id])

    def body_yaw(self, body_id: int) -> float:
        return yaw_of_matrix(np.array(self._data.body_xmat[body_id]).reshape(3, 3))

    def grasp_yaw_error(self) -> float:
        """Finger yaw across the handle bar minus the eef yaw, nearest of the two grasps."""
        direction = self.handle() - self.nut()
        finger_yaw = float(np.arctan2(direction[1], direction[0])) + FINGER_YAW_OFFSET
        return wrap_angle(finger_yaw - eef_yaw(self.sim_env), 2 * np.pi / GRASP_SYMMETRY)

    def insertion_yaw_error(self) -> float:
        """Peg yaw minus nut yaw, nearest of the hole's four fits."""
        return wrap_angle(self.body_yaw(self.peg_id) - self.body_yaw(self.nut_id), 2 * np.pi / INSERTION_SYMMETRY)

    def features(self) -> np.ndarray:
        """The seven observation features of ``FEATURE_KEYS``, float32."""
        grasp = GRASP_SYMMETRY * self.grasp_yaw_error()
        insertion = INSERTION_SYMMETRY * self.insertion_yaw_error()
        return np.concatenate([
            self.handle() - self.eef(),
            [np.cos(grasp), np.sin(grasp)],
            [np.cos(insertion), np.sin(insertion)],
        ]).astype(np.float32)
