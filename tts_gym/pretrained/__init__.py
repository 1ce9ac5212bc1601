"""Policies shipped inside the package, listed in ``index.json`` with their recipe and results."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INDEX = HERE / "index.json"


def pretrained() -> dict[str, dict[str, Any]]:
    """Name -> entry (file, training recipe, measured success) of every shipped policy."""
    if not INDEX.is_file():
        return {}
    return json.loads(INDEX.read_text())["policies"]


def resolve(name_or_path: str | os.PathLike, sparsity: float | None = None, sampler: str | None = None,
            steps: int | None = None) -> Path:
    """The checkpoint file for a shipped name, or the given path if it is a file."""
    path = Path(name_or_path)
    if path.is_file():
        if sparsity is not None or sampler is not None or steps is not None:
            raise ValueError("sparsity/sampler/steps select shipped variants; a checkpoint path already fixes them")
        return path
    entries = pretrained()
    if str(name_or_path) not in entries:
        raise ValueError(f"no shipped policy or file named {str(name_or_path)!r}; shipped: {sorted(entries)}")
    entry = entries[str(name_or_path)]
    wanted = {"sparsity": sparsity, "sampler": sampler or "ddpm", "steps": steps or 100}
    if sparsity is None and wanted["sampler"] == "ddpm" and wanted["steps"] == 100:
        return HERE / entry["file"]
    for variant in entry.get("variants", []):
        if all(variant.get(key) == value for key, value in wanted.items()):
            return HERE / variant["file"]
    shipped = [{k: v.get(k) for k in wanted} for v in entry.get("variants", [])]
    raise ValueError(f"{name_or_path!r} has no variant {wanted}; shipped: dense DDPM-100 and {shipped}")
