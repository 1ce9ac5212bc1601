"""An evaluation folder that survives interruption.

Episodes are appended to ``episodes.jsonl`` as they end, and ``run.json`` records what produced them
(a digest of the weights, planner and sampler, and the env). A rerun into the same folder with the same
policy runs only the seeds still missing; a rerun with anything else is refused, so nothing already
recorded is overwritten or mixed with another run's episodes.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ..files import append_line, write_atomically, write_json
from .metrics import EpisodeResult

EPISODES_FILE = "episodes.jsonl"
IDENTITY_FILE = "run.json"


class EpisodeLogError(ValueError):
    """The folder holds episodes of another run, or a record that cannot be read."""


def digest(value) -> str:
    """A stable hash of nested dicts / lists of tensors, arrays and plain values."""
    sha = hashlib.sha256()

    def feed(item) -> None:
        if isinstance(item, dict):
            for key in sorted(item, key=str):
                sha.update(repr(key).encode())
                feed(item[key])
        elif isinstance(item, (list, tuple)):
            sha.update(b"[%d" % len(item))
            for element in item:
                feed(element)
        elif isinstance(item, torch.Tensor):
            feed(item.detach().cpu().numpy())
        elif isinstance(item, np.ndarray):
            sha.update(f"{item.dtype}{item.shape}".encode())
            sha.update(np.ascontiguousarray(item).tobytes())
        else:
            sha.update(repr(item).encode())

    feed(value)
    return sha.hexdigest()[:16]


def policy_identity(policy, env_id: str) -> dict:
    """What decides an episode's outcome besides its seed: weights, normalizer, config, planner, env."""
    planner = policy.planner
    return {
        "env_id": env_id,
        "sampler": policy.config.sampler.name,
        "steps": policy.config.sampler.num_inference_steps,
        "planner": planner.name,
        "digest": digest([policy.model.state_dict(), policy.normalizer.state_dict(), policy.config.to_dict(),
                          planner.name, planner.state()]),
    }


class EpisodeLog:
    """Append-only episode records of one run, in a folder."""

    def __init__(self, folder: str | Path, identity: dict) -> None:
        self.folder = Path(folder)
        self.identity = identity
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / EPISODES_FILE
        self._recorded = self._read()
        write_json(self.folder / IDENTITY_FILE, identity)

    def _read(self) -> dict[int, EpisodeResult]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        if not any(line.strip() for line in lines):
            return {}
        identity_path = self.folder / IDENTITY_FILE
        if not identity_path.exists():
            raise EpisodeLogError(f"{self.path} holds episodes of an unidentified run (no {IDENTITY_FILE}); "
                                  "move it away or choose another output folder")
        recorded_identity = json.loads(identity_path.read_text())
        differing = sorted(k for k in set(recorded_identity) | set(self.identity)
                           if recorded_identity.get(k) != self.identity.get(k))
        if differing:
            detail = ", ".join(f"{k}: recorded {recorded_identity.get(k)!r}, now {self.identity.get(k)!r}"
                               for k in differing)
            raise EpisodeLogError(f"{self.folder} holds episodes of another run ({detail}); "
                                  "choose another output folder")
        results: dict[int, EpisodeResult] = {}
        for number, line in enumerate(lines, 1):
            try:
                result = EpisodeResult.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError) as error:
                if number == len(lines):  # cut off while being written: the episode reruns
                    self._rewrite(lines[:-1])
                    break
                raise EpisodeLogError(f"{self.path}:{number}: unreadable episode record: {error}") from error
            results[result.seed] = result
        return results

    def _rewrite(self, lines: list[str]) -> None:
        write_atomically(self.path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in lines)))

    def recorded(self, seeds: Iterable[int]) -> dict[int, EpisodeResult]:
        """The episodes already recorded among ``seeds``."""
        return {seed: self._recorded[seed] for seed in seeds if seed in self._recorded}

    def append(self, result: EpisodeResult) -> None:
        append_line(self.path, json.dumps(result.to_json()))
        self._recorded[result.seed] = result
