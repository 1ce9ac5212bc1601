"""Scripted pick-and-place experts for robosuite Lift, PickPlaceCan and NutAssemblySquare.

All three drive the OSC_POSE delta controller position-only (``a[:3] = clip(gain * (target - eef))``)
through a list of waypoint stages whose targets are re-read from the simulator every step; Square
also servoes the gripper yaw to the nut's handle. Measured with prototypes: Lift ~50 steps, 20/20 at
noise 0.1; Can: the end-effector stops ~9 mm above the can centre, so the descent ends on a 1.2 cm
tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from tts_gym.envs.experts.base import ScriptedExpert
from tts_gym.envs.geometry import eef_position, eef_yaw, wrap_angle
from tts_gym.envs.square_features import SquareGeometry

POSITION_GAIN = 10.0  # action units per metre of error (OSC delta input in [-1, 1])
YAW_GAIN = 3.0  # action units per radian of yaw error
GRIPPER_OPEN = -1.0
GRIPPER_CLOSE = 1.0
ACTION_SIZE = 7
YAW_INDEX = 5
GRASP_STEPS = 8
RELEASE_STEPS = 6
STAGE_TIMEOUT = 80
TOLERANCE = 0.01  # m
LOOSE_TOLERANCE = 0.02  # m, for transport waypoints
DESCENT_TOLERANCE = 0.012  # m: the eef cannot get closer than ~9 mm to a grasped object's centre
YAW_TOLERANCE = 0.05  # rad
EMPTY_GRIPPER_WIDTH = 0.006  # m, finger opening below which a "holding" stage has lost its object
MAX_REGRASPS = 3

LIFT_HOVER = 0.08  # m above the cube before descending
LIFT_HEIGHT = 0.25  # m the cube is lifted (success needs 4 cm)
CAN_HOVER = 0.10
CAN_CARRY_HEIGHT = 0.22  # m above the table-top bins: clears the bin walls
CAN_DROP_HEIGHT = 0.10  # m above the target bin centre where the can is released
SQUARE_HOVER = 0.10
SQUARE_CARRY_HEIGHT = 0.15  # m above the table for the nut centre: clears the peg (~10 cm high)
SQUARE_PLACE_HEIGHT = 0.02  # m above the table for the nut centre when released (success: < 5 cm)
SQUARE_GRASP_DEPTH = 0.0  # m, eef target relative to the handle site height
SQUARE_XY_TOLERANCE = 0.005  # m, nut centre over the peg before lowering


@dataclass
class Waypoint:
    """Drive the eef to ``target()`` with the gripper at ``gripper``; advance when ``done()``."""

    name: str
    target: Callable[[], np.ndarray]
    gripper: float
    done: Callable[[], bool]
    timeout: int = STAGE_TIMEOUT
    yaw: Optional[Callable[[], float]] = None  # desired gripper yaw (rad), None = no rotation
    holding: bool = False  # the object must be in the gripper: an empty gripper restarts the plan
    on_enter: Optional[Callable[[], None]] = None
    steps: int = field(default=0, init=False)


class RobosuitePickPlaceExpert(ScriptedExpert):
    """Base for the robosuite experts: waypoint bookkeeping and the position/yaw servo."""

    def __init__(
        self, env, noise: float = 0.0, rng: Optional[np.random.Generator] = None, noise_steps: float = 0.0
    ):
        super().__init__(env, noise, rng, noise_steps)
        self.sim_env = self.env.sim_env
        self._plan: list[Waypoint] = []
        self._index = 0
        self._memory: dict[str, np.ndarray] = {}

    # -- simulator reads -------------------------------------------------------------------------
    @property
    def _data(self):
        return self.sim_env.sim.data

    def _eef(self) -> np.ndarray:
        return eef_position(self.sim_env)

    def _eef_yaw(self) -> float:
        return eef_yaw(self.sim_env)

    def _body_pos(self, body_id: int) -> np.ndarray:
        return np.array(self._data.body_xpos[body_id])

    def _near(self, target: Callable[[], np.ndarray], tol: float) -> Callable[[], bool]:
        return lambda: float(np.linalg.norm(target() - self._eef())) < tol

    def _hold(self, name: str, gripper: float, steps: int) -> Waypoint:
        key = f"{name}_pos"
        return Waypoint(
            name, lambda: self._memory[key], gripper, lambda: False, timeout=steps,
            on_enter=lambda: self._memory.update({key: self._eef()}),
        )

    # -- plan execution ---------------------------------------------------------------------------
    def _reset(self) -> None:
        self._regrasps = 0
        self._start_plan()

    def _start_plan(self) -> None:
        self._memory = {}
        self._index = 0
        self._plan = self._make_plan()
        self._plan.append(self._hold("done", GRIPPER_OPEN, 10**9))
        if self._plan[0].on_enter is not None:
            self._plan[0].on_enter()

    def _gripper_width(self) -> float:
        """Finger opening from ``robot0_gripper_qpos`` (left finger minus right finger)."""
        sim = self.sim_env.sim
        robot = self.sim_env.robots[0]
        joints = robot.gripper["right"].joints
        values = [sim.data.qpos[sim.model.get_joint_qpos_addr(joint)] for joint in joints]
        return float(values[0] - values[1])

    def _make_plan(self) -> list[Waypoint]:
        raise NotImplementedError

    def _current(self) -> Waypoint:
        stage = self._plan[self._index]
        while stage.steps >= stage.timeout or (stage.steps > 0 and stage.done()):
            self._index += 1
            stage = self._plan[self._index]
            stage.steps = 0
            if stage.on_enter is not None:
                stage.on_enter()
        return stage

    def _clean_action(self, obs: np.ndarray) -> np.ndarray:
        stage = self._current()
        if stage.holding and self._gripper_width() < EMPTY_GRIPPER_WIDTH and self._regrasps < MAX_REGRASPS:
            self._regrasps += 1  # missed or dropped the object: start again from the approach
            self._start_plan()
            stage = self._current()
        self._stage_name = stage.name
        stage.steps += 1
        action = np.zeros(ACTION_SIZE)
        action[:3] = np.clip(POSITION_GAIN * (stage.target() - self._eef()), -1.0, 1.0)
        if stage.yaw is not None:
            action[YAW_INDEX] = np.clip(YAW_GAIN * wrap_angle(stage.yaw() - self._eef_yaw()), -1.0, 1.0)
        action[-1] = stage.gripper
        return action


class LiftExpert(RobosuitePickPlaceExpert):
    """Above the cube -> descend -> close -> lift 25 cm."""

    def _make_plan(self) -> list[Waypoint]:
        cube = lambda: self._body_pos(self.sim_env.cube_body_id)  # noqa: E731
        above = lambda: cube() + np.array([0.0, 0.0, LIFT_HOVER])  # noqa: E731
        lifted = lambda: self._memory["grasp_pos"] + np.array([0.0, 0.0, LIFT_HEIGHT])  # noqa: E731
        return [
            Waypoint("above_cube", above, GRIPPER_OPEN, self._near(above, LOOSE_TOLERANCE)),
            Waypoint("descend", cube, GRIPPER_OPEN, self._near(cube, TOLERANCE)),
            self._hold("grasp", GRIPPER_CLOSE, GRASP_STEPS),
            Waypoint(
                "lift", lifted, GRIPPER_CLOSE, self._near(lifted, LOOSE_TOLERANCE), holding=True,
                on_enter=lambda: self._memory.update(grasp_pos=self._eef()),
            ),
        ]


class CanExpert(RobosuitePickPlaceExpert):
    """Grasp the can from above, carry it over its target bin compartment, release, move away."""

    def _make_plan(self) -> list[Waypoint]:
        env = self.sim_env
        can_id = env.obj_body_id["Can"]
        bin_pos = np.array(env.target_bin_placements[env.object_to_id["can"]])
        can = lambda: self._body_pos(can_id)  # noqa: E731
        above = lambda: can() + np.array([0.0, 0.0, CAN_HOVER])  # noqa: E731
        carry_z = bin_pos[2] + CAN_CARRY_HEIGHT
        up = lambda: np.array([*self._memory["grasp_pos"][:2], carry_z])  # noqa: E731
        over_bin = lambda: np.array([bin_pos[0], bin_pos[1], carry_z])  # noqa: E731
        drop = lambda: bin_pos + np.array([0.0, 0.0, CAN_DROP_HEIGHT])  # noqa: E731
        away = lambda: np.array([bin_pos[0], bin_pos[1], carry_z])  # noqa: E731
        return [
            Waypoint("above_can", above, GRIPPER_OPEN, self._near(above, LOOSE_TOLERANCE)),
            Waypoint("descend", can, GRIPPER_OPEN, self._near(can, DESCENT_TOLERANCE)),
            self._hold("grasp", GRIPPER_CLOSE, GRASP_STEPS),
            Waypoint(
                "lift", up, GRIPPER_CLOSE, self._near(up, LOOSE_TOLERANCE), holding=True,
                on_enter=lambda: self._memory.update(grasp_pos=self._eef()),
            ),
            Waypoint("carry", over_bin, GRIPPER_CLOSE, self._near(over_bin, LOOSE_TOLERANCE), holding=True),
            Waypoint("lower", drop, GRIPPER_CLOSE, self._near(drop, LOOSE_TOLERANCE), holding=True),
            self._hold("release", GRIPPER_OPEN, RELEASE_STEPS),
            Waypoint("away", away, GRIPPER_OPEN, self._near(away, LOOSE_TOLERANCE)),
        ]


class SquareExpert(RobosuitePickPlaceExpert):
    """Grasp the square nut's handle across the bar, align the nut's hole with the peg, lower it on.

    After the grasp everything is servoed on the nut itself (not on the gripper): the end-effector
    target is ``eef + (goal - nut_centre)`` and the yaw command is the nut's yaw error to the peg
    modulo 90 degrees (a square hole fits the square peg in four orientations).
    """

    def _make_plan(self) -> list[Waypoint]:
        geometry = SquareGeometry(self.sim_env)
        peg = geometry.peg()
        table_z = self.sim_env.table_offset[2]
        handle_yaw = lambda: self._eef_yaw() + geometry.grasp_yaw_error()  # noqa: E731
        nut_aligned_yaw = lambda: self._eef_yaw() + geometry.insertion_yaw_error()  # noqa: E731

        def nut_goal(height: float) -> Callable[[], np.ndarray]:
            return lambda: self._eef() + np.array([peg[0], peg[1], table_z + height]) - geometry.nut()

        above = lambda: geometry.handle() + np.array([0.0, 0.0, SQUARE_HOVER])  # noqa: E731
        grasp = lambda: geometry.handle() + np.array([0.0, 0.0, SQUARE_GRASP_DEPTH])  # noqa: E731
        up = lambda: np.array([*self._memory["grasp_pos"][:2], table_z + SQUARE_CARRY_HEIGHT])  # noqa: E731
        over_peg, on_peg = nut_goal(SQUARE_CARRY_HEIGHT), nut_goal(SQUARE_PLACE_HEIGHT)
        aligned = lambda: abs(geometry.grasp_yaw_error()) < YAW_TOLERANCE  # noqa: E731
        nut_over_peg = lambda: float(np.linalg.norm((geometry.nut() - peg)[:2])) < SQUARE_XY_TOLERANCE  # noqa: E731
        nut_turned = lambda: abs(geometry.insertion_yaw_error()) < YAW_TOLERANCE  # noqa: E731

        return [
            Waypoint(
                "above_handle", above, GRIPPER_OPEN, lambda: self._near(above, LOOSE_TOLERANCE)() and aligned(),
                yaw=handle_yaw,
            ),
            Waypoint("descend", grasp, GRIPPER_OPEN, self._near(grasp, TOLERANCE), yaw=handle_yaw),
            self._hold("grasp", GRIPPER_CLOSE, GRASP_STEPS),
            Waypoint(
                "lift", up, GRIPPER_CLOSE, self._near(up, LOOSE_TOLERANCE), holding=True,
                on_enter=lambda: self._memory.update(grasp_pos=self._eef()),
            ),
            Waypoint(
                "carry", over_peg, GRIPPER_CLOSE, lambda: nut_over_peg() and nut_turned(), yaw=nut_aligned_yaw,
                holding=True,
            ),
            Waypoint("lower", on_peg, GRIPPER_CLOSE, self._near(on_peg, TOLERANCE), yaw=nut_aligned_yaw, holding=True),
            self._hold("release", GRIPPER_OPEN, RELEASE_STEPS),
        ]


_EXPERTS = {"Lift": LiftExpert, "PickPlaceCan": CanExpert, "NutAssemblySquare": SquareExpert}


def make_robosuite_expert(
    env, noise: float = 0.0, rng: Optional[np.random.Generator] = None, noise_steps: float = 0.0
) -> ScriptedExpert:
    task = env.unwrapped.task
    if task not in _EXPERTS:
        raise ValueError(f"no scripted expert for robosuite task {task!r}")
    return _EXPERTS[task](env, noise=noise, rng=rng, noise_steps=noise_steps)
