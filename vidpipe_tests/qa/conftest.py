"""Synthetic inputs whose right QA answer is known.

The face is skimage's astronaut photo with its smile painted over: closed lips, or a dark
mouth opening of a chosen height (mediapipe's mesh reads the painted gap monotonically).
Scenes are random textures; the "person" of the scene tests is a flat blob.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vidpipe.media.features import FrameFeatures
from vidpipe.media.video import ClipWriter
from vidpipe.render.embedded.layers import CompositeLayers, compose, save_layers

FPS = 25
MOUTH_CENTRE = (223, 146)  # of the astronaut's mouth, in her 512 x 512 photo


def astronaut() -> np.ndarray:
    from skimage.data import astronaut as _a

    return np.ascontiguousarray(_a())


def face_with_mouth(height: float, base: np.ndarray | None = None) -> np.ndarray:
    """The astronaut with closed lips (height 0) or a dark opening `height` px tall."""
    im = (astronaut() if base is None else base).copy()
    h = int(round(height))
    cv2.ellipse(im, MOUTH_CENTRE, (23, 8 + h // 2), 0, 0, 360, (185, 105, 105), -1, cv2.LINE_AA)
    if h <= 0:
        cv2.line(im, (204, 146), (242, 146), (110, 50, 55), 1, cv2.LINE_AA)
    else:
        cv2.ellipse(im, MOUTH_CENTRE, (19, max(1, h // 2)), 0, 0, 360, (45, 12, 18), -1,
                    cv2.LINE_AA)
    return im


def write_clip(path: Path, frames, fps: int = FPS) -> Path:
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with ClipWriter(path, (w, h), fps) as writer:
        writer.write(first)
        for f in frames:
            writer.write(f)
    return path


def features(energy, voiced, mouth_open=None, first_frame: int = 0) -> FrameFeatures:
    e = np.asarray(energy, np.float32)
    v = np.asarray(voiced, np.float32)
    m = np.asarray(mouth_open if mouth_open is not None else e * (v > 0.5), np.float32)
    return FrameFeatures(fps=FPS, first_frame=first_frame, energy=e, voiced=v, mouth_open=m,
                         emphasis=np.zeros_like(e))


def envelope(n: int, seed: int) -> np.ndarray:
    """A smooth speech-like loudness curve in [0.15, 1]."""
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random((1, n + 20)).astype(np.float32), (0, 0), 2.0)[0, 10:-10]
    x = (x - x.min()) / max(1e-6, np.ptp(x))
    return (0.15 + 0.85 * x).astype(np.float32)


@pytest.fixture(scope="session")
def lip_clip(tmp_path_factory):
    """100 frames: 15 silent (closed), 70 speaking with the mouth lagging the sound by 2
    frames, 15 silent of which the last 8 keep the mouth open. Returns (path, features)."""
    n_sil, n_speech = 15, 70
    n = 2 * n_sil + n_speech
    energy = np.zeros(n, np.float32)
    energy[n_sil:n_sil + n_speech] = envelope(n_speech, seed=3)
    voiced = np.zeros(n, np.float32)
    voiced[n_sil:n_sil + n_speech] = 1.0
    height = np.zeros(n)
    height[n_sil + 2:n_sil + n_speech + 2] = 20.0 * energy[n_sil:n_sil + n_speech]
    height[n - 8:] = 14.0  # mouth open in silence
    path = tmp_path_factory.mktemp("lip") / "lip.mp4"
    write_clip(path, (face_with_mouth(h) for h in height))
    return path, features(energy, voiced)


def textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(40, 216, (h // 20 + 2, w // 20 + 2, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)


def blob_layers(h: int = 180, w: int = 320, cx: float = 160, seed: int = 0) -> CompositeLayers:
    """A textured scene with an opaque elliptic 'person' and a soft shadow under it."""
    person = np.zeros((h, w, 4), np.uint8)
    cv2.ellipse(person, (int(cx), h // 2), (25, 60), 0, 0, 360, (200, 60, 40, 255), -1)
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (int(cx), h // 2 + 62), (30, 5), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 2.0)
    return CompositeLayers(background=textured(h, w, seed), person=person, shadow=shadow,
                           anchor=(cx, h // 2 + 60), scale=1.0)


def save(path: Path, layers: CompositeLayers) -> Path:
    save_layers(path, layers)
    return path


def moving_frames(layers: CompositeLayers, offsets, colour=None, gains=None) -> list[np.ndarray]:
    """The blob shifted sideways by offsets[i] px (sub-pixel), optionally recoloured, with
    the background optionally scaled by gains[i] (flicker)."""
    person = layers.person.copy()
    if colour is not None:
        person[person[..., 3] > 0, :3] = colour
    out = []
    for i, dx in enumerate(offsets):
        m = np.float32([[1, 0, dx], [0, 1, 0]])
        bg = layers.background
        if gains is not None:
            bg = np.clip(bg.astype(np.float32) * gains[i], 0, 255).astype(np.uint8)
        out.append(compose(bg, cv2.warpAffine(person, m, layers.size),
                           cv2.warpAffine(layers.shadow, m, layers.size)))
    return out
