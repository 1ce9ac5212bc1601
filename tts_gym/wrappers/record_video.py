"""``RecordMaskVideo``: one mp4 per rollout, the env frame beside the live plan heatmap.

The plan comes from ``info["tts"]`` when the wrapped env acts by itself (``TestTimeSparsity``), or
from :meth:`RecordMaskVideo.show_inference` when a runner calls the policy itself and steps several
envs side by side; those runners name files by episode seed (``name_by_seed``) so slots never clash.

The heatmap is drawn with numpy (palette look-up and integer up-scaling) and the text with Pillow,
so a frame costs far less than the simulator's render. An encoder failure is logged once, the
partial file is removed, and the rollout goes on.
"""
from __future__ import annotations

import logging
from pathlib import Path

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw

from .mask_image import plan_image

log = logging.getLogger(__name__)
MACRO_BLOCK = 16  # video encoders want frame sides divisible by this
DEFAULT_FPS = 20  # for envs that declare no render_fps
TEXT_HEIGHT = 48


def _round_up(value: int, multiple: int = MACRO_BLOCK) -> int:
    return -(-value // multiple) * multiple


class RecordMaskVideo(gym.Wrapper):
    def __init__(self, env: gym.Env, folder: str | Path, fps: int | None = None, height: int = 256,
                 name_by_seed: bool = False) -> None:
        """``fps`` defaults to the env's ``render_fps``, so a video plays at the speed of the rollout."""
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(f"RecordMaskVideo needs render_mode='rgb_array', the env has {env.render_mode!r}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fps = fps if fps is not None else env.metadata.get("render_fps", DEFAULT_FPS)
        if self.fps <= 0:
            raise ValueError(f"RecordMaskVideo needs fps > 0, got {self.fps}")
        self.height, self.name_by_seed = _round_up(height), name_by_seed
        existing = sorted(self.folder.glob("rollout_*.mp4"))
        self.rollout_index = int(existing[-1].stem.split("_")[1]) + 1 if existing else 0
        self._writer = None
        self._path: Path | None = None
        self._plan: np.ndarray | None = None
        self._sparsity: list[float] = []
        self._latency: list[float] = []
        self._failed_once = False
        self.frames_written = 0

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed=None, options=None):
        if self.name_by_seed and seed is None:
            raise ValueError("RecordMaskVideo(name_by_seed=True) names each video by its episode seed: pass reset(seed=...)")
        self._finish()
        obs, info = self.env.reset(seed=seed, options=options)
        self._plan, self._sparsity, self._latency = None, [], []
        self._open(seed)
        self._write_frame()
        return obs, info

    def step(self, action=None):
        obs, reward, terminated, truncated, info = self.env.step(action)
        tts = info.get("tts", {})
        if tts.get("inferred"):
            self.show_inference(np.asarray(tts["plan"])[0], tts["sparsity"], tts["latency_ms"]["total"])
        self._write_frame()
        if terminated or truncated:
            self._finish()
        return obs, reward, terminated, truncated, info

    def close(self):
        self._finish()
        super().close()

    def show_inference(self, plan: np.ndarray, sparsity: float, latency_ms: float) -> None:
        """The plan ``[K, 3L]`` of this env's latest inference, drawn from the next frame on."""
        self._plan = np.asarray(plan)
        self._sparsity.append(float(sparsity))
        self._latency.append(float(latency_ms))

    # ------------------------------------------------------------------ drawing
    def compose(self, frame: np.ndarray) -> np.ndarray:
        """The env frame (scaled to the video height) beside the heatmap and its caption."""
        scale = self.height / frame.shape[0]
        frame = np.asarray(Image.fromarray(frame).resize((max(1, round(frame.shape[1] * scale)), self.height)))
        panel_height = self.height - TEXT_HEIGHT
        if self._plan is None:
            heat = np.full((panel_height, panel_height // 2, 3), 255, np.uint8)
        else:
            image = plan_image(self._plan)
            cell_h = max(1, panel_height // image.shape[0])
            cell_w = max(1, min(8, (panel_height // 2) // image.shape[1] or 1))
            heat = np.repeat(np.repeat(image, cell_h, axis=0), cell_w, axis=1)
            heat = np.pad(heat, ((0, panel_height - heat.shape[0]), (0, 0), (0, 0)), constant_values=255)
        caption = Image.new("RGB", (max(heat.shape[1], 160), TEXT_HEIGHT), (255, 255, 255))
        draw = ImageDraw.Draw(caption)
        sparsity = self._sparsity[-1] if self._sparsity else 0.0
        rate = 1000.0 / np.median(self._latency) if self._latency else 0.0
        draw.text((4, 4), f"sparsity {sparsity:.0%}", fill=(0, 0, 0))
        draw.text((4, 24), f"act {rate:.1f} Hz", fill=(0, 0, 0))
        width = caption.width
        heat = np.pad(heat, ((0, 0), (0, width - heat.shape[1]), (0, 0)), constant_values=255)
        side = np.concatenate([heat, np.asarray(caption)], axis=0)
        out = np.concatenate([frame, side], axis=1)
        pad_w = _round_up(out.shape[1]) - out.shape[1]
        return np.pad(out, ((0, 0), (0, pad_w), (0, 0)), constant_values=255)

    # ------------------------------------------------------------------ file handling
    def _open(self, seed: int | None) -> None:
        import imageio.v2 as imageio

        name = f"seed_{seed}" if self.name_by_seed else f"rollout_{self.rollout_index:04d}"
        self._path = self.folder / f"{name}.mp4"
        self.rollout_index += 1
        self.frames_written = 0
        try:
            self._writer = imageio.get_writer(self._path, fps=self.fps, codec="libx264", quality=7,
                                              macro_block_size=MACRO_BLOCK)
        except Exception as error:  # noqa: BLE001  (any encoder failure: keep the rollout going)
            self._fail(error)

    def _write_frame(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.append_data(self.compose(self.env.render()))
            self.frames_written += 1
        except Exception as error:  # noqa: BLE001
            self._fail(error)

    def _finish(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
        except Exception as error:  # noqa: BLE001
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        if not self._failed_once:
            log.error("RecordMaskVideo: video writing failed (%s); the rollout goes on without video", error)
            self._failed_once = True
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001  (already failing; the partial file is removed below)
                pass
        if self._path is not None and self._path.exists():
            self._path.unlink()
