"""Velocity-level control of the Kitchen Franka arm: resolved-rate Cartesian tracking, joint moves, IK.

Facts about FrankaKitchen-v1 that shape this controller:

* an action ``a`` is a joint velocity ``2 a`` rad/s; the env turns it into a position-servo target
  ``observed_qpos + 2 a dt`` (dt 0.08 s) and only about half of that displacement is realised per step,
  so a joint moves by roughly ``a * dt``: we command ``a = qdot`` (rad/s) and close the loop;
* a zero action lets the arm sag under gravity: in steady state the servo holds a torque
  ``kp * 2 a dt``, so a feed-forward ``a = qfrc_bias / (2 kp dt)`` cancels gravity and a clipped
  integral term on the pose error removes what remains;
* joint 2 starts at its limit, where plain damped least squares stalls: joints at a limit that the
  solution would push further are removed and the least-squares problem is solved again without them;
* a null-space pull towards a nominal posture keeps the redundant 7-DoF arm away from odd postures.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from tts_gym.envs.kitchen_env import ARM_SPEED_PER_ACTION, END_EFFECTOR_SITE, NUM_ARM_JOINTS, hold_action

BASE_BODY = "panda0_link0"
ACTION_PER_RAD_S = 1.0 / ARM_SPEED_PER_ACTION
DAMPING = 0.05  # damped least-squares lambda
LIMIT_MARGIN = 0.02  # rad: a joint closer than this to a limit counts as "at the limit"
MAX_LINEAR_SPEED = 0.45  # m/s, Cartesian speed cap
MAX_ANGULAR_SPEED = 1.5  # rad/s
POSITION_GAIN = 4.0  # 1/s
ROTATION_GAIN = 3.0  # 1/s
INTEGRAL_GAIN = 3.0  # 1/s on the integrated error
INTEGRAL_LIMIT = 0.15  # clip of the integrated error (m or rad times s)
NULLSPACE_GAIN = 0.5
JOINT_GAIN = 4.0  # 1/s for joint-space moves
MAX_JOINT_SPEED = 2.0  # rad/s for joint-space moves
# Posture the null-space term pulls towards and IK starts from: elbow up, hand level, facing +y (the
# robot base is rotated so that its forward direction is the world's +y, towards the kitchen).
NOMINAL_POSTURE = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.78])
IK_ITERATIONS = 400
IK_MAX_LINEAR_STEP = 0.02  # m per IK iteration: small steps keep IK on the seed's posture branch
IK_MAX_ANGULAR_STEP = 0.1  # rad per IK iteration
IK_TOLERANCE = 1e-3


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """World-frame rotation vector turning ``current`` into ``target`` (both 3x3 matrices)."""
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, (target @ current.T).reshape(-1))
    vel = np.empty(3)
    mujoco.mju_quat2Vel(vel, quat, 1.0)
    return vel


@dataclass
class Pose:
    position: np.ndarray
    rotation: np.ndarray  # 3x3, columns are the site axes in the world frame


class ArmController:
    """Computes arm actions (7 values in [-1, 1]) for the Kitchen Franka from the true simulator state."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, joint_limits: np.ndarray, dt: float):
        self.model, self.data, self.dt = model, data, dt
        self.site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, END_EFFECTOR_SITE)
        model_limits = model.jnt_range[:NUM_ARM_JOINTS]
        # the tighter of the model's joint range and the env's servo-target clip
        self.lower = np.maximum(model_limits[:, 0], joint_limits[:NUM_ARM_JOINTS, 0])
        self.upper = np.minimum(model_limits[:, 1], joint_limits[:NUM_ARM_JOINTS, 1])
        self.nominal = np.clip(NOMINAL_POSTURE, self.lower, self.upper)
        self._scratch = mujoco.MjData(model)
        self._base_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, BASE_BODY)
        self._integral = np.zeros(6)

    # -- state ----------------------------------------------------------------------------------
    @property
    def q(self) -> np.ndarray:
        return self.data.qpos[:NUM_ARM_JOINTS].copy()

    def pose(self, data: mujoco.MjData | None = None) -> Pose:
        data = self.data if data is None else data
        return Pose(data.site_xpos[self.site_id].copy(), data.site_xmat[self.site_id].reshape(3, 3).copy())

    def _jacobian(self, data: mujoco.MjData) -> np.ndarray:
        jacp = np.zeros((3, self.model.nv))
        jacr = np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, data, jacp, jacr, self.site_id)
        return np.vstack([jacp, jacr])[:, :NUM_ARM_JOINTS]

    def posture_towards(self, position: np.ndarray) -> np.ndarray:
        """The nominal posture with joint 1 turned to face ``position`` (IK seed and null-space goal).

        Seeding IK this way keeps solutions on the elbow-up branch; an arbitrary seed can converge to a
        folded posture with joint 2 at its limit, from which the arm cannot pull or lift.
        """
        base = self.data.xpos[self._base_body]
        offset = position - base
        posture = self.nominal.copy()
        posture[0] = np.clip(np.arctan2(-offset[0], offset[1]), self.lower[0], self.upper[0])
        return posture

    def gravity_action(self) -> np.ndarray:
        """Action offset whose servo torque cancels gravity and Coriolis forces at the current state."""
        return hold_action(self.model, self.data, self.dt)

    def reset_integral(self) -> None:
        self._integral[:] = 0.0

    # -- solvers ----------------------------------------------------------------------------------
    def _solve(self, jac: np.ndarray, twist: np.ndarray, q: np.ndarray, nominal: np.ndarray) -> np.ndarray:
        """Damped least squares with a null-space posture pull, re-solved without joints at their limits."""
        free = np.ones(NUM_ARM_JOINTS, dtype=bool)
        qdot = np.zeros(NUM_ARM_JOINTS)
        for _ in range(NUM_ARM_JOINTS):
            j = jac[:, free]
            pinv = j.T @ np.linalg.inv(j @ j.T + DAMPING**2 * np.eye(6))
            sol = pinv @ twist
            null = (np.eye(int(free.sum())) - pinv @ j) @ (NULLSPACE_GAIN * (nominal - q)[free])
            qdot = np.zeros(NUM_ARM_JOINTS)
            qdot[free] = sol + null
            blocked = free & (
                ((q <= self.lower + LIMIT_MARGIN) & (qdot < 0)) | ((q >= self.upper - LIMIT_MARGIN) & (qdot > 0))
            )
            if not blocked.any():
                break
            free &= ~blocked
        return qdot

    def cartesian_action(self, target: Pose, use_integral: bool = True) -> np.ndarray:
        """Arm action moving the end-effector site towards ``target`` (one control step)."""
        current = self.pose()
        error = np.concatenate([target.position - current.position, rotation_error(target.rotation, current.rotation)])
        if use_integral:
            self._integral = np.clip(self._integral + error * self.dt, -INTEGRAL_LIMIT, INTEGRAL_LIMIT)
        linear = POSITION_GAIN * error[:3] + INTEGRAL_GAIN * self._integral[:3]
        angular = ROTATION_GAIN * error[3:] + INTEGRAL_GAIN * self._integral[3:]
        linear *= min(1.0, MAX_LINEAR_SPEED / (np.linalg.norm(linear) + 1e-9))
        angular *= min(1.0, MAX_ANGULAR_SPEED / (np.linalg.norm(angular) + 1e-9))
        posture = self.posture_towards(target.position)
        qdot = self._solve(self._jacobian(self.data), np.concatenate([linear, angular]), self.q, posture)
        return np.clip(qdot * ACTION_PER_RAD_S + self.gravity_action(), -1.0, 1.0)

    def joint_action(self, q_target: np.ndarray) -> np.ndarray:
        """Arm action moving the joints straight towards ``q_target``."""
        qdot = np.clip(JOINT_GAIN * (q_target - self.q), -MAX_JOINT_SPEED, MAX_JOINT_SPEED)
        return np.clip(qdot * ACTION_PER_RAD_S + self.gravity_action(), -1.0, 1.0)

    def solve_ik(self, target: Pose, q_init: np.ndarray | None = None, nominal: np.ndarray | None = None) -> np.ndarray:
        """Joint angles placing the site at ``target``, by iterating the same solver on a scratch copy."""
        scratch = self._scratch
        scratch.qpos[:] = self.data.qpos
        nominal = self.posture_towards(target.position) if nominal is None else nominal
        q = nominal.copy() if q_init is None else np.asarray(q_init, dtype=float).copy()
        for _ in range(IK_ITERATIONS):
            scratch.qpos[:NUM_ARM_JOINTS] = q
            mujoco.mj_kinematics(self.model, scratch)
            mujoco.mj_comPos(self.model, scratch)
            current = self.pose(scratch)
            error = np.concatenate([target.position - current.position, rotation_error(target.rotation, current.rotation)])
            if np.linalg.norm(error) < IK_TOLERANCE:
                break
            error[:3] *= min(1.0, IK_MAX_LINEAR_STEP / (np.linalg.norm(error[:3]) + 1e-9))
            error[3:] *= min(1.0, IK_MAX_ANGULAR_STEP / (np.linalg.norm(error[3:]) + 1e-9))
            q = np.clip(q + self._solve(self._jacobian(scratch), error, q, nominal), self.lower, self.upper)
        return q
