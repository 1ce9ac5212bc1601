"""Writing files so that a crash never leaves a half-written one; every writer in the package uses these."""
from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

FILE_MODE = 0o644  # temp files are created private; the results are ordinary files


def write_atomically(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """``write(tmp_path)`` fills a temporary file in the same folder that is then renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_torch(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` with an atomic replace. Saved through a handle: torch names the archive inside the
    file after a path's stem, which here is the random temp name, so the same object would give other bytes
    (a reshipped zoo file would churn in git)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)

    return write_atomically(path, write)


def write_csv(path: str | os.PathLike, rows: Sequence[dict]) -> Path:
    """A small log as CSV (header from the first row), replaced atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)

    return write_atomically(path, write)


def copy_file(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """A copy of ``source`` at ``path`` (its folder created), replaced atomically."""
    return write_atomically(path, lambda tmp: shutil.copyfile(source, tmp))


def write_json(path: str | os.PathLike, obj) -> Path:
    """Indented JSON, replaced atomically."""
    return write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line with a single write + fsync (a JSON-lines record is whole or absent)."""
    with open(path, "a") as handle:
        handle.write(line.rstrip("\n") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
