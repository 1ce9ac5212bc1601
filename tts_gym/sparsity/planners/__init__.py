"""Planners by name; a checkpoint stores the name and the planner's state."""
from __future__ import annotations

from typing import Any

from .base import DensePlanner, FixedPlanner, Planner
from .learned import PrunerPlanner

PLANNERS: dict[str, type[Planner]] = {cls.name: cls for cls in (DensePlanner, FixedPlanner, PrunerPlanner)}


def register_planner(cls: type[Planner]) -> type[Planner]:
    PLANNERS[cls.name] = cls
    return cls


def planner_from_state(name: str, state: dict[str, Any]) -> Planner:
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; known: {sorted(PLANNERS)}")
    return PLANNERS[name].from_state(state)


__all__ = ["DensePlanner", "FixedPlanner", "PLANNERS", "Planner", "PrunerPlanner", "planner_from_state", "register_planner"]
