"""Temporal deflicker: remove frame-to-frame brightness pumping.

Two implementations:

* `ffmpeg_deflicker_filter()` - the ffmpeg `deflicker` filter string (per-frame gain from the
  mean brightness of a sliding window). It re-scales every frame, including frames that were
  already stable, so on clips composed over a fixed background it adds small (+-1 level)
  changes of its own to the background.
* `LumaStabilizer` - a numpy streaming stabiliser over a centred sliding window: each frame's
  mean luma is pulled towards the window's median with a clamped gain; frames whose gain is
  within `tolerance` of 1 pass through bit-exact. This is the default used by `upscale_clip`
  (measured: it removes as much synthetic flicker as ffmpeg's filter and leaves a stable clip
  untouched).
"""

from __future__ import annotations

import collections
from typing import Iterable, Iterator

import cv2
import numpy as np


def ffmpeg_deflicker_filter(size: int = 5, mode: str = "pm") -> str:
    """ffmpeg filter: deflicker over `size` frames (odd, 2..129); mode am/gm/hm/qm/cm/pm/median."""
    size = int(np.clip(size, 2, 129))
    return f"deflicker=size={size}:mode={mode}"


def frame_luma(frame: np.ndarray) -> float:
    """Mean luma (BT.601) of a frame, on a 4x subsampled grid (fast, robust enough)."""
    sub = np.ascontiguousarray(frame[::4, ::4, :3])
    return float(cv2.mean(cv2.cvtColor(sub, cv2.COLOR_RGB2GRAY))[0])


def apply_gain(frame: np.ndarray, gain: float) -> np.ndarray:
    lut = np.clip(np.arange(256, dtype=np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(frame, lut)


class LumaStabilizer:
    """Streaming deflicker with a centred window of `window` frames (latency window // 2).

    for out in LumaStabilizer(9).process(frames): ...
    Every input frame gives exactly one output frame, in order.
    """

    def __init__(self, window: int = 9, max_gain: float = 0.08, tolerance: float = 0.004,
                 ) -> None:
        self.window = max(3, int(window) | 1)
        self.half = self.window // 2
        self.max_gain = max_gain
        self.tolerance = tolerance
        self.gains: list[float] = []

    def _gain(self, lumas: list[float], k: int) -> float:
        lo, hi = max(0, k - self.half), min(len(lumas), k + self.half + 1)
        target = float(np.median(lumas[lo:hi]))
        m = lumas[k]
        if m < 1.0:
            return 1.0
        g = float(np.clip(target / m, 1.0 - self.max_gain, 1.0 + self.max_gain))
        return 1.0 if abs(g - 1.0) < self.tolerance else g

    def process(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        buf: collections.deque[np.ndarray] = collections.deque()
        lumas: collections.deque[float] = collections.deque()
        pos = 0  # index in `buf` of the next frame to emit
        for frame in frames:
            buf.append(frame)
            lumas.append(frame_luma(frame))
            if len(buf) - pos > self.half:
                yield self._emit(buf, lumas, pos)
                pos += 1
                if pos > self.half:  # drop history older than the window
                    buf.popleft()
                    lumas.popleft()
                    pos -= 1
        while pos < len(buf):
            yield self._emit(buf, lumas, pos)
            pos += 1

    def _emit(self, buf, lumas, pos) -> np.ndarray:
        g = self._gain(list(lumas), pos)
        self.gains.append(g)
        frame = buf[pos]
        return frame if g == 1.0 else apply_gain(frame, g)
