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
  no better end to end (BENCHMARKS.md, "Kitchen: what the policy looks at");
* ``"full+ee"`` (62, ``tts_gym/KitchenEE-v0``): the full vector followed by the end-effector site's
  world position (3). It is a function of the arm joints, so it adds no information, only the forward
  kinematics a policy would otherwise have to learn: the light switch sits between burner knobs 6 cm
  apart, so the reach has to be right to about 3 cm in height, and the scripted expert's alignment
  stages are linear in this position's error. The 59-d prefix is unchanged, so a 59-d policy can be
  widened into a 62-d one (``tts-gym train --init``). Measured: the widened, fine-tuned policy uses
  the position, but a 59-d control fine-tuned the same way did nearly as well (BENCHMARKS.md,
  "Kitchen: the end-effector in the observation").
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
MAX_EPISODE_STEPS = 280
NUM_ARM_JOINTS = 7
KETTLE_QPOS_XY = slice(23, 25)  # kettle free-joint x, y inside the full qpos
ARM_JOINT_NOISE = 0.05  # rad, uniform, per arm joint at reset when perturb_init is on
KETTLE_XY_NOISE = 0.02  # m, uniform, on the kettle's initial x and y when perturb_init is on
DEFAULT_RENDER_SIZE = 256


class KitchenEnv(gym.Env):
    """Franka Kitchen with tasks microwave, kettle, light switch, slide cabinet (by default).

    Args:
        tasks: tasks to complete; the episode terminates once all are done (``info["success"]``).
        perturb_init: draw per-seed arm-joint and kettle offsets at reset (see module docstring).
        render_mode: ``None`` or ``"rgb_array"``.
        width, height: rendered image size.
        max_episode_steps: truncation horizon (the registered id also has a TimeLimit of 280).
        observation: ``"full"`` or ``"positions"`` (see module docstring).
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
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        self.observation = observation
        self.tasks = tuple(tasks)
        self.perturb_init = perturb_init
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self._kitchen = _UpstreamKitchenEnv(
            tasks_to_complete=list(self.tasks), render_mode=render_mode, width=width, height=height
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
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(ACTION_SIZE,), dtype=np.float32)
        self.dt = float(self._kitchen.robot_env.dt)
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
        raw_obs, reward, terminated, _, raw_info = self._kitchen.step(action)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps and not terminated
        info = self._info(completed=raw_info["episode_task_completions"])
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
