"""``RecordMasks``: one ``rollout_XXXX.npz`` of plans per rollout plus a JSON line of its statistics.

Sits outside ``TestTimeSparsity`` and reads ``info["tts"]``. Only the current rollout is held in
memory; files are written atomically, and a failure to write is logged once and never stops the
rollout.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import gymnasium as gym
import numpy as np

from ..files import append_line, write_atomically

log = logging.getLogger(__name__)
SUMMARY_FILE = "rollouts.jsonl"


class RecordMasks(gym.Wrapper):
    def __init__(self, env: gym.Env, folder: str | Path) -> None:
        super().__init__(env)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(self.folder.glob("rollout_*.npz"))
        self.rollout_index = int(existing[-1].stem.split("_")[1]) + 1 if existing else 0
        self._warned = False
        self._clear(seed=None)

    def _clear(self, seed: int | None) -> None:
        self.seed = seed
        self.plans: list[np.ndarray] = []
        self.sparsity: list[float] = []
        self.latency_ms: list[float] = []
        self.inference_steps: list[int] = []
        self.steps = 0
        self.success = False
        self.active = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self.active and self.steps:  # the previous rollout ended without terminated/truncated
            self._flush(finished=False)
        obs, info = self.env.reset(seed=seed, options=options)
        self._clear(seed)
        self.active = True
        return obs, info

    def step(self, action=None):
        obs, reward, terminated, truncated, info = self.env.step(action)
        tts = info.get("tts", {})
        if tts.get("inferred"):
            self.plans.append(np.asarray(tts["plan"], np.int8)[0])
            self.sparsity.append(float(tts["sparsity"]))
            self.latency_ms.append(float(tts["latency_ms"]["total"]))
            self.inference_steps.append(self.steps)
        self.steps += 1
        self.success = self.success or bool(info.get("success", False))
        if terminated or truncated:
            self._flush(finished=True)
        return obs, reward, terminated, truncated, info

    def close(self):
        if self.active and self.steps:
            self._flush(finished=False)
        super().close()

    def _flush(self, finished: bool) -> None:
        name = f"rollout_{self.rollout_index:04d}"
        self.rollout_index += 1
        self.active = False
        plans = np.stack(self.plans) if self.plans else np.zeros((0, 0, 0), np.int8)
        arrays = dict(plans=plans, sparsity=np.asarray(self.sparsity, np.float32),
                      latency_ms=np.asarray(self.latency_ms, np.float32),
                      inference_steps=np.asarray(self.inference_steps, np.int32),
                      seed=np.asarray(-1 if self.seed is None else self.seed), success=np.asarray(self.success),
                      steps=np.asarray(self.steps))
        steady = self.sparsity[1:] or self.sparsity
        summary = {"rollout": name, "seed": self.seed, "success": self.success, "steps": self.steps,
                   "finished": finished, "inferences": len(self.plans),
                   "mean_sparsity": float(np.mean(steady)) if steady else 0.0,
                   "median_latency_ms": float(np.median(self.latency_ms)) if self.latency_ms else None}
        try:
            write_atomically(self.folder / f"{name}.npz", lambda tmp: np.savez_compressed(tmp, **arrays))
            append_line(self.folder / SUMMARY_FILE, json.dumps(summary))
        except OSError as error:  # a full disk must not stop the rollout
            if not self._warned:
                log.error("RecordMasks could not write %s (%s); the rollout continues", name, error)
                self._warned = True
        self.plans, self.sparsity, self.latency_ms, self.inference_steps = [], [], [], []
