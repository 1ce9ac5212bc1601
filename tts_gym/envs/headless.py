"""Choose an OpenGL backend before MuJoCo is imported, so rendering works on headless machines.

MuJoCo reads ``MUJOCO_GL`` once, at import time. Without a display the default (GLFW) cannot create a
context, so we default to EGL there; a value set by the user always wins.
"""
from __future__ import annotations

import os

HEADLESS_GL_BACKEND = "egl"


def ensure_headless_gl() -> None:
    """Set ``MUJOCO_GL=egl`` (and PyOpenGL's platform to match) when there is no display and no choice."""
    if os.environ.get("MUJOCO_GL") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    os.environ["MUJOCO_GL"] = HEADLESS_GL_BACKEND
    os.environ.setdefault("PYOPENGL_PLATFORM", HEADLESS_GL_BACKEND)
