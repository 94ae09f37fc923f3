"""Synthetic layers and speech features for the motion / lipsync / upscale tests.

The person is `skimage.data.astronaut()` matted with mediapipe's selfie segmentation and
placed on a synthetic scene; the speech features are bursts and pauses defined on the
absolute frame index, so any segment is an exact slice of the whole.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from vidpipe.media.features import FrameFeatures
from vidpipe.render.embedded.layers import CompositeLayers

# Speech bursts (start_s, end_s) and stress peaks (time_s, strength).
BURSTS = [(0.8, 2.6), (3.4, 5.6), (6.4, 8.0)]
STRESS = [(1.2, 1.0), (2.0, 0.7), (3.9, 1.0), (4.8, 0.8), (6.9, 0.9)]


def synthetic_background(w: int, h: int, seed: int = 3) -> np.ndarray:
    """A simple textured 'room': wall gradient, floor, a few shapes."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wall = np.stack([150 + 40 * xx / w, 160 + 20 * yy / h, 175 - 30 * xx / w], -1)
    floor_y = int(0.8 * h)
    wall[floor_y:] = np.array([110, 90, 70], np.float32) * (0.8 + 0.4 * (yy[floor_y:, :, None] / h))
    img = wall.astype(np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, 0.7 * h))
        col = tuple(int(c) for c in rng.integers(40, 220, 3))
        cv2.rectangle(img, (x, y), (x + int(0.08 * w), y + int(0.12 * h)), col, -1)
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@lru_cache(maxsize=4)
def _matted(source: str) -> np.ndarray:
    from vidpipe.render.embedded.landmarks import selfie_mask

    if source == "astronaut":
        from skimage import data

        rgb = data.astronaut()
    else:
        bgr = cv2.imread(source, cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(source)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    m = selfie_mask(rgb)
    m = cv2.GaussianBlur(m, (0, 0), 1.0)
    a = np.clip((m - 0.3) / 0.4, 0, 1)
    rgba = np.dstack([rgb, (a * 255 + 0.5).astype(np.uint8)])
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    return rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1].copy()


def make_layers(size: tuple[int, int] = (256, 144), source: str = "astronaut",
                height_frac: float = 0.92, x_frac: float = 0.5) -> CompositeLayers:
    """The matted `source` (astronaut or a photo path) standing on the bottom of the frame."""
    w, h = size
    person = _matted(source)
    ph, pw = person.shape[:2]
    k = height_frac * h / ph
    nw, nh = max(1, round(pw * k)), max(1, round(ph * k))
    small = cv2.resize(person, (nw, nh), interpolation=cv2.INTER_AREA)
    layer = np.zeros((h, w, 4), np.uint8)
    x0 = int(round(x_frac * w - nw / 2))
    y0 = h - nh
    sx0, dx0 = max(0, -x0), max(0, x0)
    sx1 = min(nw, w - x0)
    layer[y0:h, dx0:dx0 + (sx1 - sx0)] = small[:, sx0:sx1]
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (int(x_frac * w), h - 2), (int(0.4 * nw), int(0.04 * h) + 1), 0, 0, 360,
                1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.02 * h + 1) * 0.8
    return CompositeLayers(background=synthetic_background(w, h), person=layer, shadow=shadow,
                           anchor=(x_frac * w, float(h - 1)), scale=k)


def speech_features(n_frames: int, fps: int = 25, first_frame: int = 0) -> FrameFeatures:
    """Bursts of speech with syllables (~4.5 Hz) and stressed peaks, silent in between."""
    g = first_frame + np.arange(n_frames, dtype=np.float64)
    t = g / fps
    voiced = np.zeros_like(t)
    for a, b in BURSTS:
        ramp = np.clip(np.minimum(t - a, b - t) / 0.12, 0, 1)
        voiced = np.maximum(voiced, ramp)
    syll = 0.5 - 0.5 * np.cos(2 * np.pi * 4.5 * t)
    emphasis = np.zeros_like(t)
    for c, s in STRESS:
        emphasis += s * np.exp(-0.5 * ((t - c) / 0.18) ** 2)
    emphasis = np.clip(emphasis, 0, 1) * voiced
    mouth = voiced * (0.25 + 0.75 * syll) * (0.6 + 0.4 * np.clip(emphasis * 1.5, 0, 1))
    energy = voiced * (0.4 + 0.4 * syll + 0.2 * emphasis)
    f32 = lambda x: np.clip(x, 0, 1).astype(np.float32)  # noqa: E731
    return FrameFeatures(fps=fps, first_frame=first_frame, energy=f32(energy),
                         voiced=f32(voiced), mouth_open=f32(mouth), emphasis=f32(emphasis))


def constant_features(n_frames: int, fps: int = 25, first_frame: int = 0, *, mouth: float = 0.0,
                      emphasis: float = 0.0, voiced: float = 0.0) -> FrameFeatures:
    full = lambda v: np.full(n_frames, v, np.float32)  # noqa: E731
    return FrameFeatures(fps=fps, first_frame=first_frame, energy=full(voiced),
                         voiced=full(voiced), mouth_open=full(mouth), emphasis=full(emphasis))


def slice_features(f: FrameFeatures, a: int, b: int) -> FrameFeatures:
    """Frames [a, b) of `f` as a segment (first_frame shifted accordingly)."""
    return FrameFeatures(fps=f.fps, first_frame=f.first_frame + a, energy=f.energy[a:b],
                         voiced=f.voiced[a:b], mouth_open=f.mouth_open[a:b],
                         emphasis=f.emphasis[a:b])


def face_frame(size: int = 192) -> np.ndarray:
    """A close head-and-shoulders RGB frame (the astronaut), size x size."""
    from skimage import data

    crop = data.astronaut()[0:330, 90:420]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
