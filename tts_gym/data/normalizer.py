"""Per-dimension min/max normalization to [-1, 1] (diffusion_policy's ``"limits"`` mode).

Diffusion models are trained on targets in [-1, 1], so observations and actions are rescaled per
dimension from their dataset range. A dimension whose range is below ``range_eps`` (constant, e.g. an
unused joint) is not stretched (that would amplify noise); it is only shifted so that its dataset
minimum maps to 0, the middle of the output range, exactly as diffusion_policy does.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

OUTPUT_MIN = -1.0
OUTPUT_MAX = 1.0
DEFAULT_RANGE_EPS = 1e-4  # ranges below this are treated as constant dimensions
_STAT_NAMES = ("scale", "offset", "min", "max")


class FieldNormalizer:
    """Affine map ``y = x * scale + offset`` for one field (e.g. ``obs``), over its last dimension."""

    def __init__(self, scale: torch.Tensor, offset: torch.Tensor, data_min: torch.Tensor, data_max: torch.Tensor):
        self.scale, self.offset, self.min, self.max = scale, offset, data_min, data_max

    @classmethod
    def fit(cls, data: ArrayLike, range_eps: float = DEFAULT_RANGE_EPS) -> "FieldNormalizer":
        values = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data, dtype=torch.float32)
        values = values.reshape(-1, values.shape[-1])
        if len(values) == 0:
            raise ValueError("cannot fit a normalizer on zero rows")
        data_min, data_max = values.min(dim=0).values, values.max(dim=0).values
        data_range = data_max - data_min
        constant = data_range < range_eps
        data_range = torch.where(constant, torch.full_like(data_range, OUTPUT_MAX - OUTPUT_MIN), data_range)
        scale = (OUTPUT_MAX - OUTPUT_MIN) / data_range
        offset = OUTPUT_MIN - scale * data_min
        offset = torch.where(constant, (OUTPUT_MAX + OUTPUT_MIN) / 2 - data_min, offset)
        return cls(scale, offset, data_min, data_max)

    def _apply(self, x: ArrayLike, fn) -> ArrayLike:
        if torch.is_tensor(x):
            scale, offset = self.scale.to(x.device, x.dtype), self.offset.to(x.device, x.dtype)
            return fn(x, scale, offset)
        result = fn(torch.as_tensor(np.asarray(x, dtype=np.float32)), self.scale, self.offset)
        return result.numpy()

    def normalize(self, x: ArrayLike) -> ArrayLike:
        return self._apply(x, lambda v, s, o: v * s + o)

    def unnormalize(self, x: ArrayLike) -> ArrayLike:
        return self._apply(x, lambda v, s, o: (v - o) / s)


class Normalizer:
    """Named :class:`FieldNormalizer` s (``obs`` and ``action`` in practice), saved as plain tensors.

    ``normalizer.normalize("obs", x)`` and ``normalizer["obs"].normalize(x)`` are equivalent; numpy in
    gives numpy out, a tensor in gives a tensor on the same device and dtype.
    """

    def __init__(self, fields: dict[str, FieldNormalizer]):
        self.fields = dict(fields)

    @classmethod
    def fit(cls, range_eps: float = DEFAULT_RANGE_EPS, **arrays: ArrayLike) -> "Normalizer":
        """Fit one field per keyword, e.g. ``Normalizer.fit(obs=obs_rows, action=action_rows)``."""
        if not arrays:
            raise ValueError("Normalizer.fit needs at least one named array, e.g. fit(obs=..., action=...)")
        return cls({name: FieldNormalizer.fit(value, range_eps) for name, value in arrays.items()})

    def __getitem__(self, field: str) -> FieldNormalizer:
        if field not in self.fields:
            raise KeyError(f"normalizer has no field {field!r}; fields: {sorted(self.fields)}")
        return self.fields[field]

    def __contains__(self, field: str) -> bool:
        return field in self.fields

    def normalize(self, field: str, x: ArrayLike) -> ArrayLike:
        return self[field].normalize(x)

    def unnormalize(self, field: str, x: ArrayLike) -> ArrayLike:
        return self[field].unnormalize(x)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """``{"<field>.<stat>": tensor}``: loadable with ``torch.load(..., weights_only=True)``."""
        return {
            f"{name}.{stat}": getattr(field, stat).detach().cpu().clone()
            for name, field in self.fields.items()
            for stat in _STAT_NAMES
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "Normalizer":
        grouped: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in state.items():
            name, _, stat = key.rpartition(".")
            if stat not in _STAT_NAMES or not name:
                raise KeyError(f"unexpected normalizer state key {key!r}")
            grouped.setdefault(name, {})[stat] = torch.as_tensor(value, dtype=torch.float32)
        fields = {}
        for name, stats in grouped.items():
            missing = [stat for stat in _STAT_NAMES if stat not in stats]
            if missing:
                raise KeyError(f"normalizer state for {name!r} is missing {missing}")
            fields[name] = FieldNormalizer(stats["scale"], stats["offset"], stats["min"], stats["max"])
        return cls(fields)
