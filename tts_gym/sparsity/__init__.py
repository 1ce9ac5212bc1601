"""Test-time sparsity: plans, residual caches, the executor, and the planners that fill plans."""
from .cache import ResidualCache
from .executor import PlanExecutor
from .plan import Decision, PlanError, dense_plan, enforce_warmup, sparsity, validate_plan
from .planners import DensePlanner, FixedPlanner, Planner

__all__ = [
    "Decision", "DensePlanner", "FixedPlanner", "PlanError", "PlanExecutor", "Planner", "ResidualCache",
    "dense_plan", "enforce_warmup", "sparsity", "validate_plan",
]
