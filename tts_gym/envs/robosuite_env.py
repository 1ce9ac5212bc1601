"""robosuite 1.5 manipulation tasks (Lift, PickPlaceCan, NutAssemblySquare) as Gymnasium 1.x envs.

Configuration follows robomimic's low-dim benchmark: Panda arm, OSC_POSE delta controller (7-d action
``[dx, dy, dz, dax, day, daz, gripper]`` in [-1, 1], gripper -1 open / +1 close), 20 Hz control,
horizon 400. The flat observation concatenates robomimic's low-dim keys in this fixed order::

    object               object-state (Lift 10, Can 14, Square 14)
    robot0_eef_pos       3
    robot0_eef_quat      4  (x, y, z, w)
    robot0_gripper_qpos  2

``observation="square_grasp"`` (Square only) appends the handle offset and the grasp and insertion
yaw errors of ``tts_gym.envs.square_features``, 7 more numbers.

Seeding: robosuite draws object placement (and the initial joint noise) from its own generator; on
every reset we reseed it, the placement samplers and numpy's global RNG from the Gymnasium seed, so
``reset(seed=s)`` fully determines the episode. Rendering uses the ``agentview`` camera off-screen
(EGL when headless) with shadows and multisampling off; robosuite images come upside down and are
flipped upright here.
"""
from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym
import numpy as np

from tts_gym.envs.headless import ensure_headless_gl
from tts_gym.envs.square_features import FEATURE_KEYS as SQUARE_FEATURE_KEYS
from tts_gym.envs.square_features import SquareGeometry

ensure_headless_gl()

import robosuite  # noqa: E402
from robosuite.controllers import load_composite_controller_config  # noqa: E402

TASKS = ("Lift", "PickPlaceCan", "NutAssemblySquare")
ROBOT = "Panda"
CONTROLLER = "BASIC"  # robosuite 1.5's composite controller whose arm part is OSC_POSE (delta)
ARM = "right"  # robosuite's name of a single-arm robot's arm
CONTROL_FREQ = 20
MAX_EPISODE_STEPS = 400
CAMERA = "agentview"
DEFAULT_RENDER_SIZE = 256
CONSTRUCTION_SEED = 0  # fixes model-building randomness (e.g. Lift's cube size) across processes
ROBOSUITE_OBJECT_KEY = "object-state"
OBS_KEY_ORDER = ("object", "robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
OBSERVATIONS = ("robomimic", "square_grasp")
_SEED_BOUND = 2**31 - 1


def _arm_controller_config() -> dict:
    """robosuite 1.5's BASIC composite config reduced to the single arm a Panda has.

    The stock config also defines left-arm / torso / head / base / legs parts, each of which makes
    robosuite log a warning on every construction; the controller is the same without them.
    """
    config = load_composite_controller_config(controller=CONTROLLER, robot=ROBOT)
    config["body_parts"] = {ARM: config["body_parts"][ARM]}
    return config


class RobosuiteEnv(gym.Env):
    """A robosuite task with robomimic's low-dim observation, success in ``info`` and truncation at 400.

    Args:
        task: robosuite environment name: ``Lift``, ``PickPlaceCan`` or ``NutAssemblySquare``.
        render_mode: ``None`` or ``"rgb_array"`` (agentview camera).
        width, height: rendered image size.
        max_episode_steps: truncation horizon.
        terminate_on_success: end the episode (``terminated=True``) on the first successful step.
        observation: ``"robomimic"`` (the low-dim keys above) or, for Square, ``"square_grasp"``
            (those and the seven grasp features).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_FREQ}

    def __init__(
        self,
        task: str = "Lift",
        render_mode: Optional[str] = None,
        width: int = DEFAULT_RENDER_SIZE,
        height: int = DEFAULT_RENDER_SIZE,
        max_episode_steps: int = MAX_EPISODE_STEPS,
        terminate_on_success: bool = True,
        observation: str = "robomimic",
    ):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if observation == "square_grasp" and task != "NutAssemblySquare":
            raise ValueError(f"observation 'square_grasp' describes NutAssemblySquare, not {task!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.task = task
        self.render_mode = render_mode
        self.width, self.height = width, height
        self.max_episode_steps = max_episode_steps
        self.terminate_on_success = terminate_on_success
        self.env_kwargs = dict(
            env_name=task,
            robots=ROBOT,
            controller_configs=_arm_controller_config(),
            has_renderer=False,
            has_offscreen_renderer=render_mode is not None,
            use_camera_obs=False,
            use_object_obs=True,
            reward_shaping=False,
            control_freq=CONTROL_FREQ,
            horizon=max_episode_steps,
            ignore_done=True,  # truncation is ours; robosuite would otherwise refuse to step
            hard_reset=False,  # reloading the XML every reset costs ~1 s
            render_camera=CAMERA,
            camera_names=CAMERA,
            camera_heights=height,
            camera_widths=width,
            seed=CONSTRUCTION_SEED,
        )
        self.sim_env = robosuite.make(**self.env_kwargs)
        self._disable_expensive_rendering()
        raw = self.sim_env.reset()
        self.square_geometry = SquareGeometry(self.sim_env) if observation == "square_grasp" else None
        self.obs_keys: tuple[tuple[str, int], ...] = tuple(
            (key, int(np.asarray(raw[self._raw_key(key)]).size)) for key in OBS_KEY_ORDER
        ) + (SQUARE_FEATURE_KEYS if self.square_geometry is not None else ())
        obs_size = sum(size for _, size in self.obs_keys)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float32)
        low, high = self.sim_env.action_spec
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self._steps = 0

    @staticmethod
    def _raw_key(key: str) -> str:
        return ROBOSUITE_OBJECT_KEY if key == "object" else key

    def _disable_expensive_rendering(self) -> None:
        """Shadows and multisampling off: several times faster off-screen frames on CPU rendering."""
        model = self.sim_env.sim.model._model
        model.light_castshadow[:] = 0
        model.vis.quality.offsamples = 0

    # -- simulator access used by the scripted experts and the collector --------------------------
    def flatten_observation(self, raw_obs: dict) -> np.ndarray:
        """robosuite's observation dict (and the live grasp features) -> the flat float32 observation."""
        pieces = [np.asarray(raw_obs[self._raw_key(key)], dtype=np.float32).reshape(-1) for key in OBS_KEY_ORDER]
        if self.square_geometry is not None:
            pieces.append(self.square_geometry.features())
        return np.concatenate(pieces)

    def get_state(self) -> np.ndarray:
        """Flattened MuJoCo state (time, qpos, qvel), as robomimic stores in ``states``."""
        return np.asarray(self.sim_env.sim.get_state().flatten(), dtype=np.float64)

    def is_success(self) -> bool:
        return bool(self.sim_env._check_success())

    def _reseed(self, seed: int) -> None:
        """Point robosuite's generator, every placement sampler's and numpy's global RNG at ``seed``."""
        rng = np.random.default_rng(seed)
        self.sim_env.rng = rng
        samplers = [getattr(self.sim_env, "placement_initializer", None)]
        while samplers:
            sampler = samplers.pop()
            if sampler is None:
                continue
            sampler.rng = rng
            samplers.extend(getattr(sampler, "samplers", {}).values())
        np.random.seed(seed)

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self._reseed(int(self.np_random.integers(_SEED_BOUND)))
        raw = self.sim_env.reset()
        self._steps = 0
        return self.flatten_observation(raw), {"success": self.is_success()}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), self.action_space.low, self.action_space.high)
        raw, reward, _, _ = self.sim_env.step(action)
        self._steps += 1
        success = self.is_success()
        terminated = success and self.terminate_on_success
        truncated = self._steps >= self.max_episode_steps and not terminated
        info: dict[str, Any] = {"success": success}
        return self.flatten_observation(raw), float(reward), bool(terminated), bool(truncated), info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array'")
            return None
        image = self.sim_env.sim.render(camera_name=CAMERA, width=self.width, height=self.height)
        return np.ascontiguousarray(image[::-1])  # robosuite renders upside down

    def close(self):
        self.sim_env.close()
