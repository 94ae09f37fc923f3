"""Scene fidelity and temporal stability, measured on the static background.

The background is what lies outside the person and the shadow of the layers each segment
was animated from: the person alpha is dilated by the most the motion stage moves the body
(sway up to 1.5 % of the body height, head turns) plus a margin, the shadow by a few pixels.
Temporal figures work on luma downscaled to `SMALL_WIDTH` (area averaging), which is what
the eye sees as flicker and costs ~1 ms a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidpipe.render.embedded.layers import CompositeLayers

SMALL_WIDTH = 320
ALPHA_MIN = 2.0 / 255.0
SHADOW_MIN = 0.01
MOTION_MARGIN = 0.04  # of the person's height: dilation of the person alpha
JOIN_FLOOR = 0.2  # grey levels: in-segment change below this counts as this (invisible)


def small_size(width: int, height: int) -> tuple[int, int]:
    sw = min(SMALL_WIDTH, width)
    return sw, max(1, round(height * sw / width))


def small_luma(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Luma (0-255 float32) of an RGB frame, area-downscaled to `size` (w, h)."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if (grey.shape[1], grey.shape[0]) != size:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey.astype(np.float32)


@dataclass
class BackgroundRef:
    """The layers' background at the output size and where it is visible."""

    background: np.ndarray  # H x W x 3 uint8
    mask: np.ndarray  # H x W bool, True on pure background
    small_mask: np.ndarray  # at small_size, True where every covered pixel is background
    person_box: tuple[int, int, int, int] | None  # x0, y0, x1, y1 of the person (output px)


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = img.shape[:2]
    if (w, h) == size:
        return img
    interp = cv2.INTER_AREA if size[0] < w else cv2.INTER_CUBIC
    return cv2.resize(img, size, interpolation=interp)


def background_reference(layers: CompositeLayers, size: tuple[int, int]) -> BackgroundRef:
    """`size` is the output video's (w, h)."""
    w, h = size
    bg = np.ascontiguousarray(_resize(layers.background[..., :3], size), dtype=np.uint8)
    alpha = _resize(layers.person[..., 3].astype(np.float32) / 255.0, size)
    shadow = _resize(layers.shadow.astype(np.float32), size)
    person = (alpha > ALPHA_MIN).astype(np.uint8)
    ys, xs = np.nonzero(person)
    box = None
    if ys.size:
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        r = int(round(4 + MOTION_MARGIN * (box[3] - box[1])))
        person = cv2.dilate(person, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                              (2 * r + 1, 2 * r + 1)))
    shade = cv2.dilate((shadow > SHADOW_MIN).astype(np.uint8), np.ones((9, 9), np.uint8))
    mask = (person == 0) & (shade == 0)
    small = cv2.resize(mask.astype(np.float32), small_size(w, h), interpolation=cv2.INTER_AREA)
    return BackgroundRef(background=bg, mask=mask, small_mask=small > 0.999, person_box=box)


def masked_sse(frame: np.ndarray, background: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(sum of squared errors over the masked pixels and channels, number of values)."""
    d = cv2.absdiff(frame, background)[mask].astype(np.float32)
    return float(np.dot(d.ravel(), d.ravel())), int(d.size)


def psnr(sse: float, n: int) -> float | None:
    if n == 0:
        return None
    mse = sse / n
    return 99.0 if mse <= 1e-10 else float(10.0 * np.log10(255.0 ** 2 / mse))


def flicker(luma_means: np.ndarray, diffs: np.ndarray) -> tuple[float | None, float | None]:
    """(std over time of the mean background luma, mean |frame-to-frame diff|)."""
    std = float(np.std(luma_means)) if luma_means.size >= 2 else None
    d = float(np.mean(diffs)) if diffs.size else None
    return std, d


def join_ratio(join_diff: float, inside: np.ndarray, beside: np.ndarray | None = None,
               floor: float = JOIN_FLOOR) -> float:
    """Change across a join relative to the change inside the segments it joins.

    The reference is the median change inside the two segments (issue 4's definition) or,
    when larger, the changes of the frames right beside the join. Motion comes in bursts
    with the speech (on sample renders an arbitrary frame's change exceeded 1.5x the segment
    median 29 % of the time, 8 % with the neighbours taken into account), so a join inside a
    loud phrase is judged against its neighbours; a real jump is a spike above both.
    """
    ref = float(np.median(inside)) if inside.size else 0.0
    if beside is not None and beside.size:
        ref = max(ref, float(np.max(beside)))
    return float(join_diff / max(ref, floor))
