"""One-file checkpoints: format version, config, normalizer, weights and the planner, weights-only.

Loading never unpickles arbitrary objects (``torch.load(weights_only=True)``): the file holds only
dicts, lists, numbers, strings and tensors. Weights may be stored in fp16 to keep shipped files
small; they load back as fp32.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..files import save_torch

FORMAT = "tts_gym.policy"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "config", "model", "normalizer")


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, of another format, or does not fit the model."""


def _to_storage(state: dict[str, torch.Tensor], half: bool) -> dict[str, torch.Tensor]:
    return {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous() for k, v in state.items()}


def _to_float32(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: _to_float32(v) for k, v in state.items()}
    if torch.is_tensor(state) and state.dtype == torch.float16:
        return state.float()
    return state


def save_checkpoint(
    path: str | os.PathLike,
    *,
    config: dict[str, Any],
    model: dict[str, torch.Tensor],
    normalizer: dict[str, torch.Tensor],
    planner: tuple[str, dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write atomically (temp file + rename): a crash never leaves a half-written checkpoint."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config,
        "model": _to_storage(model, half),
        "normalizer": _to_storage(normalizer, False),
        "planner": None if planner is None else {"name": planner[0], "state": planner[1]},
        "metadata": metadata or {},
    }
    return save_torch(payload, path)


def _read(path: Path, what: str) -> Any:
    """``torch.load(weights_only=True)`` with errors that name the file and say what went wrong."""
    if not path.is_file():
        raise CheckpointError(f"no {what} at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} holds objects a weights-only load refuses (arbitrary pickle is never loaded): {error}"
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable torch checkpoint (truncated or corrupt?): {error}") from error


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    payload = _read(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a tts_gym policy checkpoint (expected format {FORMAT!r})")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path} is missing {missing}")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {payload['format_version']}, this tts_gym reads {FORMAT_VERSION}"
        )
    payload["model"] = _to_float32(payload["model"])
    if payload.get("planner"):
        payload["planner"]["state"] = _to_float32(payload["planner"]["state"])
    return payload


def weights_digest(model: dict[str, torch.Tensor], normalizer: dict[str, torch.Tensor]) -> str:
    """A fingerprint of the weights a planner was trained on. The model is hashed at the fp16 precision
    shipped files store, so a trained policy and its fp16 shipped copy share one digest."""
    digest = hashlib.sha256()
    for part, state, half in (("model", model, True), ("normalizer", normalizer, False)):
        stored = _to_storage(state, half)
        for key in sorted(stored):
            digest.update(f"{part}.{key}:{tuple(stored[key].shape)}:{stored[key].dtype};".encode())
            digest.update(stored[key].numpy().tobytes())
    return digest.hexdigest()[:16]


PLANNER_FORMAT = "tts_gym.planner"


def save_planner_checkpoint(path: str | os.PathLike, *, planner: tuple[str, dict[str, Any]], sampler: dict[str, Any],
                            backbone: dict[str, Any], weights: str, metadata: dict[str, Any] | None = None) -> Path:
    """A planner alone (a few hundred kB), for the backbone, weights and sampler it was trained with."""
    payload = {"format": PLANNER_FORMAT, "format_version": FORMAT_VERSION,
               "planner": {"name": planner[0], "state": planner[1]}, "sampler": sampler, "backbone": backbone,
               "weights": weights, "metadata": metadata or {}}
    return save_torch(payload, path)


def read_planner_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A planner file's payload, bound to no policy: for a warm start, which only needs the pruner's
    shape to fit (``tts-gym train-pruner --init``), not the weights it was trained on."""
    path = Path(path)
    payload = _read(path, "planner file")
    if not isinstance(payload, dict) or payload.get("format") != PLANNER_FORMAT:
        raise CheckpointError(f"{path} is not a tts_gym planner file (expected format {PLANNER_FORMAT!r})")
    payload["planner"]["state"] = _to_float32(payload["planner"]["state"])
    return payload


def load_planner_checkpoint(path: str | os.PathLike, backbone: dict[str, Any], weights: str) -> dict[str, Any]:
    """Refuses a planner of another backbone, or of other weights of the same backbone: its plans were
    learned on what those weights compute. Files without a digest (written before it existed) load."""
    payload = read_planner_checkpoint(path)
    if payload.get("backbone") != backbone:
        raise CheckpointError(f"{path} was trained for backbone {payload.get('backbone')}, not {backbone}")
    if payload.get("weights", weights) != weights:
        raise CheckpointError(
            f"{path} was trained on other weights (digest {payload['weights']}) than this policy's ({weights}); "
            "train a pruner for these weights (tts-gym train-pruner) or load the policy it was trained on"
        )
    return payload
