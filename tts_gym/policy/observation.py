"""Turning what a simulator hands over into a checked float32 batch ``[B, Do]``."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

# robomimic stores robosuite's "object-state" observation under "object".
KEY_ALIASES = {"object": ("object-state",)}


class ObservationError(ValueError):
    """An observation is not what the policy was trained on; says what was expected and what came."""


def _as_float_array(value, what: str) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    if not isinstance(value, (np.ndarray, np.generic, list, tuple, float)):
        raise ObservationError(f"{what} must be an array of floats, got {type(value).__name__}")
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise ObservationError(f"{what} must have a floating dtype (float16/32/64), got {array.dtype}")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused below
        return array.astype(np.float32, copy=False)


def _lookup(obs: Mapping, key: str):
    for candidate in (key, *KEY_ALIASES.get(key, ())):
        if candidate in obs:
            return obs[candidate]
    raise ObservationError(f"observation dict has no key {key!r}; present keys: {sorted(map(str, obs))}")


def flatten_observation(obs, obs_dim: int, obs_keys: Sequence[tuple[str, int]]) -> tuple[np.ndarray, bool]:
    """Return (``[B, Do]`` float32, whether the input was batched). Raises :class:`ObservationError`."""
    if isinstance(obs, Mapping):
        if not obs_keys:
            raise ObservationError("this policy was trained on flat observations and has no obs_keys for a dict")
        pieces = []
        for key, size in obs_keys:
            piece = _as_float_array(_lookup(obs, key), f"observation[{key!r}]")
            if piece.ndim == 0 or piece.shape[-1] != size or piece.ndim > 2:
                raise ObservationError(f"observation[{key!r}] must have shape [{size}] or [B, {size}], got {list(piece.shape)}")
            pieces.append(piece)
        ndims = {p.ndim for p in pieces}
        if len(ndims) > 1 or len({p.shape[0] for p in pieces if p.ndim == 2}) > 1:
            raise ObservationError(f"observation dict mixes batched and unbatched entries: {[list(p.shape) for p in pieces]}")
        array = np.concatenate(pieces, axis=-1)
    else:
        array = _as_float_array(obs, "observation")
    if array.ndim not in (1, 2) or array.shape[-1] != obs_dim:
        raise ObservationError(f"observation must have shape [{obs_dim}] or [B, {obs_dim}], got {list(array.shape)}")
    if array.ndim == 2 and array.shape[0] == 0:
        raise ObservationError("observation batch is empty")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(np.atleast_2d(array)))[0].tolist()
        raise ObservationError(f"observation must be finite; found NaN/inf at [row, dim] = {bad}")
    batched = array.ndim == 2
    return np.atleast_2d(array), batched
