"""Franka Kitchen (Gymnasium-Robotics ``FrankaKitchen-v1``) with a flat observation and seed-dependent starts.

Why a wrapper rather than ``gym.make("FrankaKitchen-v1")``:

* the upstream observation is a goal dict; policies here want the flat 59-d ``observation`` as float32;
* upstream ``reset`` is deterministic (the seed only moves a 1 % observation noise), so every
  demonstration would start identically; with ``perturb_init`` (on by default) each seed draws small
  offsets of the arm joints and of the kettle position, small enough for the scripted expert;
* the info dict gets the project's keys ``success``, ``tasks_completed``, ``num_tasks_completed``, ``num_tasks``;
* rendering with shadows and multisampling off is ~10x faster (about 35 ms instead of 400 ms a frame).

Observation layouts (``observation=``):

* ``"full"`` (59, ``tts_gym/Kitchen-v0``): FrankaKitchen-v1's vector: arm + finger joint positions
  (9), their velocities (9), kitchen object joint positions (21: burners, light, slide and hinge
  cabinets, microwave, kettle free joint) and their velocities (20);
* ``"positions"`` (30, ``tts_gym/KitchenPositions-v0``): the joint positions only, D4RL kitchen's layout
  without its constant goal. The velocities invite shortcuts: the arm's equal the commanded
  action (a cloned policy can copy its last action), and the objects' are contact noise, which a
  policy trained on the full vector leans on. Measured so far, a policy trained on positions does
  no better end to end (docs/experiments.md, "Joint positions only");
* ``"full+ee"`` (62, ``tts_gym/KitchenEE-v0``): the full vector followed by the end-effector site's
  world position (3). It is a function of the arm joints, so it adds no information, only the forward
  kinematics a policy would otherwise have to learn: the light switch sits between burner knobs 6 cm
  apart, so the reach has to be right to about 3 cm in height, and the scripted expert's alignment
  stages are linear in this position's error. The 59-d prefix is unchanged, so a 59-d policy can be
  widened into a 62-d one (``tts-gym train --init``). Measured: the widened, fine-tuned policy uses
  the position, but a 59-d control fine-tuned the same way did nearly as well (docs/experiments.md,
  "The end-effector position in the observation").

Action modes (``action=``), both 9-d (7 arm joints, then the 2 finger commands):

* ``"joint_velocity"`` (FrankaKitchen-v1's own): the arm values are joint velocities. The servo
  target moves with the action, so a resting arm needs a state-dependent offset against gravity
  (:func:`hold_action`) and every error of a cloned policy integrates into drift;
* ``"joint_position"`` (``tts_gym/KitchenEEPosition-v0``): the arm values are absolute joint
  positions to reach by the next step. The env issues the velocity action that gets there, gravity
  offset included, so an error in one step's target is not carried into the next (Diffusion
  Policy's finding for position over velocity control). :meth:`KitchenEnv.action_from_velocity`
  is the exact inverse, so the scripted expert's velocity actions become position labels.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import gymnasium as gym
import mujoco
import numpy as np

from tts_gym.envs.headless import ensure_headless_gl

ensure_headless_gl()

from gymnasium_robotics.envs.franka_kitchen.kitchen_env import KitchenEnv as _UpstreamKitchenEnv  # noqa: E402

DEFAULT_TASKS = ("microwave", "kettle", "light switch", "slide cabinet")
OBS_KEY = "observation"
NUM_ROBOT_JOINTS = 9  # 7 arm + 2 finger joints
NUM_OBJECT_JOINTS = 21
OBSERVATIONS = ("full", "positions", "full+ee")
END_EFFECTOR_SITE = "end_effector"  # the gripper site the scripted expert steers
END_EFFECTOR_SIZE = 3
ACTION_SIZE = 9
ACTIONS = ("joint_velocity", "joint_position")
SERVO_VELOCITY_PER_ACTION = 2.0  # rad/s the servo target moves per unit of action (FrankaKitchen-v1's act_rng)
# rad/s a joint actually moves per unit of action: about half the servo target's motion is realised per step
ARM_SPEED_PER_ACTION = 1.0
MAX_EPISODE_STEPS = 280
NUM_ARM_JOINTS = 7
KETTLE_QPOS_XY = slice(23, 25)  # kettle free-joint x, y inside the full qpos
ARM_JOINT_NOISE = 0.05  # rad, uniform, per arm joint at reset when perturb_init is on
KETTLE_XY_NOISE = 0.02  # m, uniform, on the kettle's initial x and y when perturb_init is on
DEFAULT_RENDER_SIZE = 256


def hold_action(model: mujoco.MjModel, data: mujoco.MjData, dt: float) -> np.ndarray:
    """Arm velocity action whose servo torque cancels gravity and Coriolis forces at the current state.

    The servo holds ``kp * (target - q)`` with ``target = q + SERVO_VELOCITY_PER_ACTION * a * dt``, so
    a zero action lets the arm sag; this is the action of an arm at rest."""
    servo_gain = model.actuator_gainprm[:NUM_ARM_JOINTS, 0]
    return data.qfrc_bias[:NUM_ARM_JOINTS] / (servo_gain * SERVO_VELOCITY_PER_ACTION * dt)


class KitchenEnv(gym.Env):
    """Franka Kitchen with tasks microwave, kettle, light switch, slide cabinet (by default).

    Args:
        tasks: tasks to complete; the episode terminates once all are done (``info["success"]``).
        perturb_init: draw per-seed arm-joint and kettle offsets at reset (see module docstring).
        render_mode: ``None`` or ``"rgb_array"``.
        width, height: rendered image size.
        max_episode_steps: truncation horizon (the registered id also has a TimeLimit of 280).
        observation: ``"full"``, ``"positions"`` or ``"full+ee"`` (see module docstring).
        action: ``"joint_velocity"`` or ``"joint_position"`` (see module docstring).
        terminate_on_success: end the episode (``terminated=True``) once every task is done.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 12}

    def __init__(
        self,
        tasks: Sequence[str] = DEFAULT_TASKS,
        perturb_init: bool = True,
        render_mode: Optional[str] = None,
        width: int = DEFAULT_RENDER_SIZE,
        height: int = DEFAULT_RENDER_SIZE,
        max_episode_steps: int = MAX_EPISODE_STEPS,
        observation: str = "full",
        action: str = "joint_velocity",
        terminate_on_success: bool = True,
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        self.observation = observation
        self.action = action
        self.terminate_on_success = terminate_on_success
        self.tasks = tuple(tasks)
        self.perturb_init = perturb_init
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self._kitchen = _UpstreamKitchenEnv(
            tasks_to_complete=list(self.tasks), terminate_on_tasks_completed=False, render_mode=render_mode,
            width=width, height=height,
        )
        self._disable_expensive_rendering()
        self._base_init_qpos = self._kitchen.robot_env.init_qpos.copy()
        full_size = self._kitchen.observation_space[OBS_KEY].shape[0]
        robot, objects = NUM_ROBOT_JOINTS, NUM_OBJECT_JOINTS
        self._obs_index = (
            np.r_[0:robot, 2 * robot : 2 * robot + objects] if observation == "positions"
            else np.arange(full_size)
        )
        self._end_effector = (
            mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, END_EFFECTOR_SITE)
            if observation == "full+ee" else None
        )
        obs_size = len(self._obs_index) + (END_EFFECTOR_SIZE if self._end_effector is not None else 0)
        self.obs_keys: tuple[tuple[str, int], ...] = ((OBS_KEY, obs_size),)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float32)
        self.dt = float(self._kitchen.robot_env.dt)
        low, high = -np.ones(ACTION_SIZE), np.ones(ACTION_SIZE)
        if action == "joint_position":
            low[:NUM_ARM_JOINTS], high[:NUM_ARM_JOINTS] = self.joint_limits[:NUM_ARM_JOINTS].T
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self._steps = 0

    # -- simulator access used by the scripted expert and the collector ---------------------------
    @property
    def model(self):
        """The MuJoCo ``MjModel`` (read-only use, e.g. by the scripted expert)."""
        return self._kitchen.model

    @property
    def data(self):
        """The MuJoCo ``MjData`` of the running episode."""
        return self._kitchen.data

    @property
    def joint_limits(self) -> np.ndarray:
        """``[9, 2]`` position bounds the env clips the servo targets to."""
        return self._kitchen.robot_env.robot_pos_bound[:ACTION_SIZE].copy()

    def action_from_velocity(self, velocity: np.ndarray) -> np.ndarray:
        """A ``joint_velocity`` action in this env's action mode: the step it takes, as a target.

        Exact inverse of the conversion in :meth:`step` for actions within [-1, 1]; it reads the
        current state, so call it right before the step (the scripted expert does)."""
        velocity = np.asarray(velocity, dtype=np.float64)
        if self.action == "joint_velocity":
            return velocity.astype(np.float32)
        action = velocity.copy()
        arm, hold = self._arm_at_rest()
        action[:NUM_ARM_JOINTS] = arm + (velocity[:NUM_ARM_JOINTS] - hold) * ARM_SPEED_PER_ACTION * self.dt
        return action.astype(np.float32)

    def _velocity_action(self, action: np.ndarray) -> np.ndarray:
        """This env's action as FrankaKitchen-v1's joint-velocity action."""
        if self.action == "joint_velocity":
            return action
        velocity = action.copy()
        arm, hold = self._arm_at_rest()
        step = (action[:NUM_ARM_JOINTS] - arm) / (ARM_SPEED_PER_ACTION * self.dt)
        velocity[:NUM_ARM_JOINTS] = np.clip(step + hold, -1.0, 1.0)
        return velocity

    def _arm_at_rest(self) -> tuple[np.ndarray, np.ndarray]:
        """The arm's joint positions and the velocity action that holds them there: the reference
        both conversions between the action modes are taken against."""
        return self.data.qpos[:NUM_ARM_JOINTS].copy(), hold_action(self.model, self.data, self.dt)

    @property
    def observes_end_effector(self) -> bool:
        """Whether the observation ends with the end-effector site's position (``"full+ee"``)."""
        return self._end_effector is not None

    def get_state(self) -> np.ndarray:
        """Full simulator state ``qpos ++ qvel`` (recorded as ``states`` in datasets)."""
        return np.concatenate([self.data.qpos, self.data.qvel]).copy()

    def flatten_observation(self, raw_obs: dict) -> np.ndarray:
        """FrankaKitchen-v1's dict observation -> the flat float32 observation of this env."""
        flat = np.asarray(raw_obs[OBS_KEY], dtype=np.float32)[self._obs_index]
        if self._end_effector is None:
            return flat
        return np.concatenate([flat, self.data.site_xpos[self._end_effector].astype(np.float32)])

    # -- gymnasium API -------------------------------------------------------------------------
    def _disable_expensive_rendering(self) -> None:
        model = self._kitchen.model
        model.light_castshadow[:] = 0
        model.vis.quality.offsamples = 0

    def _initial_qpos(self) -> np.ndarray:
        qpos = self._base_init_qpos.copy()
        if not self.perturb_init:
            return qpos
        rng = self.np_random
        limits = self.joint_limits[:NUM_ARM_JOINTS]
        arm = qpos[:NUM_ARM_JOINTS] + rng.uniform(-ARM_JOINT_NOISE, ARM_JOINT_NOISE, NUM_ARM_JOINTS)
        qpos[:NUM_ARM_JOINTS] = np.clip(arm, limits[:, 0], limits[:, 1])
        qpos[KETTLE_QPOS_XY] += rng.uniform(-KETTLE_XY_NOISE, KETTLE_XY_NOISE, 2)
        return qpos

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        # The upstream reset restores robot_env.init_qpos; seed-dependent starts go through it.
        self._kitchen.robot_env.init_qpos = self._initial_qpos()
        upstream_seed = None if seed is None else int(self.np_random.integers(2**31 - 1))
        raw_obs, _ = self._kitchen.reset(seed=upstream_seed)
        self._steps = 0
        return self.flatten_observation(raw_obs), self._info(completed=[])

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (ACTION_SIZE,) or not np.isfinite(action).all():
            raise ValueError(f"expected a finite action of shape ({ACTION_SIZE},) ({self.action}), got shape "
                             f"{action.shape}{'' if np.isfinite(action).all() else ' with NaN or inf'}")
        raw_obs, reward, _, _, raw_info = self._kitchen.step(self._velocity_action(action))
        self._steps += 1
        info = self._info(completed=raw_info["episode_task_completions"])
        terminated = info["success"] and self.terminate_on_success
        truncated = self._steps >= self.max_episode_steps and not terminated
        return self.flatten_observation(raw_obs), float(reward), bool(terminated), bool(truncated), info

    def _info(self, completed: Sequence[str]) -> dict[str, Any]:
        completed = list(completed)
        return {
            "success": len(completed) == len(self.tasks),
            "tasks_completed": completed,
            "num_tasks_completed": len(completed),
            "num_tasks": len(self.tasks),
        }

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array'")
            return None
        return self._kitchen.render()

    def close(self):
        self._kitchen.close()
