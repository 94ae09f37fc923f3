"""Per-frame speech features that drive motion and mouth shapes.

One value per video frame of a segment, computed from the exact sample range of that frame
so that what moves on screen lines up with what is heard.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class FrameFeatures:
    """Arrays of length n_frames, all float32 in [0, 1].

    energy:     loudness of the frame's audio (dB mapped to [0, 1] over the recording's range).
    voiced:     speech probability (VAD) of the frame.
    mouth_open: how far the jaw should open in this frame: 0 closed (silence), 1 widest.
    emphasis:   smoothed stress/onset strength; drives head and shoulder movement.
    rounding:   how rounded the lips are (o/u/w phones, eased over neighbouring frames):
                0 spread or neutral, 1 fully rounded. Zeros when no phones are known.
    """

    fps: int
    first_frame: int
    energy: np.ndarray
    voiced: np.ndarray
    mouth_open: np.ndarray
    emphasis: np.ndarray
    rounding: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.rounding is None:
            self.rounding = np.zeros(self.energy.shape[0], np.float32)

    def copy(self) -> "FrameFeatures":
        """The same features in arrays of its own (callers scale or cap them in place)."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).copy()
                                            for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), np.ndarray)})

    @property
    def n_frames(self) -> int:
        return int(self.energy.shape[0])

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, fps=self.fps, first_frame=self.first_frame, energy=self.energy,
                     voiced=self.voiced, mouth_open=self.mouth_open, emphasis=self.emphasis,
                     rounding=self.rounding)

    @classmethod
    def load(cls, path: Path) -> "FrameFeatures":
        with np.load(path) as z:
            return cls(fps=int(z["fps"]), first_frame=int(z["first_frame"]),
                       energy=z["energy"], voiced=z["voiced"],
                       mouth_open=z["mouth_open"], emphasis=z["emphasis"],
                       rounding=z["rounding"] if "rounding" in z.files else None)
