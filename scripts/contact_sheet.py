"""One picture of several episodes: a row per video from `tts-gym eval --video`, a frame per chosen step.

    python scripts/contact_sheet.py outputs/videos/kitchen/seed_100000.mp4 outputs/videos/kitchen/seed_100001.mp4 \\
        --steps 0 50 100 150 200 280 --out docs/kitchen_failures.png

Only the env frame is kept (the left square of a mask video); each row is captioned with its file name
and, if given, a label (``--labels "0 tasks" "1 task"``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw

TILE = 192
CAPTION_HEIGHT = 18
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def tile(frame: np.ndarray, step: int) -> np.ndarray:
    side = frame.shape[0]
    image = Image.fromarray(frame[:, :side]).resize((TILE, TILE))  # the env frame is the left square
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 80, 14), fill=WHITE)
    draw.text((3, 2), f"step {step}", fill=BLACK)
    return np.asarray(image)


def caption(text: str, width: int) -> np.ndarray:
    image = Image.new("RGB", (width, CAPTION_HEIGHT), WHITE)
    ImageDraw.Draw(image).text((4, 3), text, fill=BLACK)
    return np.asarray(image)


def contact_sheet(videos: list[Path], steps: list[int], labels: list[str] | None = None) -> np.ndarray:
    rows = []
    for index, video in enumerate(videos):
        frames = imageio.mimread(video, memtest=False)
        last = len(frames) - 1
        row = np.concatenate([tile(frames[min(step, last)], min(step, last)) for step in steps], axis=1)
        label = video.stem + (f": {labels[index]}" if labels else "")
        rows += [caption(label, row.shape[1]), row]
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 50, 100, 150, 200, 280])
    parser.add_argument("--labels", nargs="+", default=None, help="one per video")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.labels and len(args.labels) != len(args.videos):
        parser.error(f"--labels needs one label per video ({len(args.videos)}), got {len(args.labels)}")
    Image.fromarray(contact_sheet(args.videos, args.steps, args.labels)).save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
