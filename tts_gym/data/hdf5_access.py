"""Opening HDF5 files and reading their per-step arrays, shared by every dataset reader.

Each reader (robomimic, D4RL, Minari) walks a different layout, but a missing file, a missing key, an
empty or non-numeric array and NaN values are the same problem in all of them; these helpers raise
:class:`DatasetError` naming the file and the key, so the readers only describe where they look.
"""
from __future__ import annotations

import os

import h5py
import numpy as np

from tts_gym.data.episode import DatasetError


def open_hdf5(path: str | os.PathLike) -> h5py.File:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as err:  # truncated / not HDF5
        raise DatasetError(f"{path}: not a readable HDF5 file ({err})") from err


def require(path: str, group: h5py.Group, key: str, where: str) -> h5py.Dataset | h5py.Group:
    if key not in group:
        raise DatasetError(f"{path}: {where} is missing key '{key}'")
    return group[key]


def numeric(path: str, dataset: h5py.Dataset, where: str) -> np.ndarray:
    """A per-step array as float32 [T, ...]; refuses non-numeric data, empty episodes and NaN / inf
    (one non-finite value would turn the normalizer and every loss into NaN)."""
    if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiub" or dataset.ndim < 1:
        kind = dataset.dtype if isinstance(dataset, h5py.Dataset) else type(dataset).__name__
        raise DatasetError(f"{path}: {where} must be a numeric array with one row per step, got {kind}")
    if len(dataset) == 0:
        raise DatasetError(f"{path}: {where} is empty (an episode needs at least one step)")
    array = np.asarray(dataset, np.float32)
    finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
    if not finite.all():
        raise DatasetError(f"{path}: {where} has NaN or inf values (first at row {int(np.argmin(finite))})")
    return array
