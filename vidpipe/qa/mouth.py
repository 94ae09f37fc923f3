"""Mouth opening measured on output frames, and how well it follows the speech.

The opening is the inner-lip gap along the face's vertical axis divided by the mouth width
(corner to corner), so it does not depend on the face's size in the frame. Faces in a wide
720p shot are small (30-70 px), so the face box is found once with mediapipe's full-range
face detector (on tiles within the person's box: on a whole 720p frame it misses faces
under ~60 px) and the face mesh then tracks a square crop around it, resampled to
`CROP_PX`; the crop only moves when the face drifts towards its edge.

This is deliberately independent of the renderer's own tracker (render/embedded/lipsync.py):
a measurement that shared the renderer's code would share its mistakes.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidpipe.render.embedded import landmarks as lm

CROP_PX = 256
# Inner-lip point pairs (upper, lower) across the middle of the mouth.
_GAP_PAIRS = ((82, 87), (13, 14), (312, 317))
MAX_LAG = 5
CLOSED_MARGIN = 0.05  # opening above the closed baseline still counted as closed
SPEECH_VOICED = 0.5
SILENT_VOICED = 0.2
MIN_CORR_FRAMES = 12
MIN_TILE = 256  # px: smallest tile of the face search (faces down to ~20 px are found)


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap / mouth width from 478 face-mesh points (any pixel scale)."""
    ml, mr = points[lm.MOUTH_LEFT], points[lm.MOUTH_RIGHT]
    d = mr - ml
    width = float(np.hypot(d[0], d[1]))
    if width < 1e-6:
        return float("nan")
    ex = d / width
    ey = np.array([-ex[1], ex[0]], np.float32)
    if float(np.dot(points[lm.CHIN] - ml, ey)) < 0:
        ey = -ey
    gaps = [float(np.dot(points[lo] - points[up], ey)) for up, lo in _GAP_PAIRS]
    return max(0.0, float(np.mean(gaps)) / width)


def _square_crop(frame: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """frame[y0:y0+side, x0:x0+side], edge-padded where it leaves the frame."""
    h, w = frame.shape[:2]
    sub = frame[max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
    px0, py0 = max(0, -x0), max(0, -y0)
    px1, py1 = max(0, x0 + side - w), max(0, y0 + side - h)
    if px0 or py0 or px1 or py1:
        sub = cv2.copyMakeBorder(sub, py0, py1, px0, px1, cv2.BORDER_REPLICATE)
    return sub


def face_crop(frame: np.ndarray, box: tuple[int, int, int], size: int = CROP_PX
              ) -> tuple[np.ndarray, float]:
    """The square `box` (x0, y0, side) resampled to size x size; returns (crop, scale)."""
    x0, y0, side = box
    sub = _square_crop(frame, x0, y0, side)
    k = size / side
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.resize(sub, (size, size), interpolation=interp), k


def _box_around(cx: float, cy: float, side: float, w: int, h: int) -> tuple[int, int, int]:
    side = int(round(min(max(side, 32.0), max(w, h))))
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def _tiles(x0: int, y0: int, x1: int, y1: int, side: int):
    """Square tiles of `side` covering the region with half-tile overlap."""
    def starts(a, b):
        if b - a <= side:
            return [a]
        n = int(np.ceil((b - a - side) / (side / 2))) + 1
        return [int(round(a + i * (b - a - side) / (n - 1))) for i in range(n)]
    for ty in starts(y0, y1):
        for tx in starts(x0, x1):
            yield tx, ty


def find_face_box(frame: np.ndarray, region: tuple[int, int, int, int] | None = None
                  ) -> tuple[int, int, int] | None:
    """A square crop box (x0, y0, side) about twice the face, or None if there is no face.

    mediapipe's detector sees its input at 192 px, so a 40 px face in a 720p frame is lost;
    the search therefore goes down a pyramid of overlapping tiles (within `region`, e.g.
    the person's box, when given) until a face is found or tiles get smaller than
    `MIN_TILE`.
    """
    h, w = frame.shape[:2]
    if region is not None:
        x0, y0, x1, y1 = region
        x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
        if x1 - x0 >= 8 and y1 - y0 >= 8 and (x1 - x0, y1 - y0) != (w, h):
            found = _search(frame, (x0, y0, x1, y1))
            if found is not None:
                return found
    found = _search(frame, (0, 0, w, h))
    if found is not None:
        return found
    mesh = lm.detect_face_mesh(frame)
    if mesh is not None:
        mx0, my0, mx1, my1 = mesh.box
        return _box_around((mx0 + mx1) / 2, (my0 + my1) / 2, 2.0 * max(mx1 - mx0, my1 - my0),
                           w, h)
    return None


def _search(frame: np.ndarray, region: tuple[int, int, int, int]) -> tuple[int, int, int] | None:
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = region
    side = max(x1 - x0, y1 - y0)
    while True:
        best = None
        for tx, ty in _tiles(x0, y0, x1, y1, side):
            tile = np.ascontiguousarray(frame[ty:min(y1, ty + side), tx:min(x1, tx + side)])
            for bx0, by0, bx1, by1, score in lm.detect_faces(tile)[:1]:
                if best is None or score > best[4]:
                    best = (bx0 + tx, by0 + ty, bx1 + tx, by1 + ty, score)
        if best is not None:
            bx0, by0, bx1, by1, _ = best
            return _box_around((bx0 + bx1) / 2, (by0 + by1) / 2 + 0.05 * (by1 - by0),
                               2.2 * max(bx1 - bx0, by1 - by0), w, h)
        if side // 2 < MIN_TILE:
            return None
        side = side // 2


class MouthMeter:
    """Tracks the face mesh through consecutive frames; `points(frame)` -> points or None.

    The face box is searched on the first frame (again after the mesh is lost; while no
    face is found, after `retry` frames, doubling up to `max_retry`); then only the crop is
    processed. `points(frame, region)` may name where the person is, to search there first.
    """

    def __init__(self, retry: int = 5, max_retry: int = 50) -> None:
        self._tracker = lm.FaceTracker()
        self.box: tuple[int, int, int] | None = None
        self._retry, self._max_retry = retry, max_retry
        self._next_retry = retry
        self._wait = 0
        self._misses = 0

    def close(self) -> None:
        self._tracker.close()

    def __enter__(self) -> "MouthMeter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def points(self, frame: np.ndarray, region: tuple[int, int, int, int] | None = None
               ) -> np.ndarray | None:
        """478 face-mesh points in frame pixels, or None."""
        if self.box is None:
            if self._wait > 0:
                self._wait -= 1
                return None
            self.box = find_face_box(frame, region)
            if self.box is None:
                self._wait = self._next_retry
                self._next_retry = min(self._max_retry, 2 * self._next_retry)
                return None
            self._next_retry = self._retry
        crop, k = face_crop(frame, self.box)
        found = self._tracker.process(crop)
        if found is None:
            self._misses += 1
            if self._misses >= 3:  # lost: look for the face again on the whole frame
                self.box, self._misses = None, 0
            return None
        self._misses = 0
        x0, y0, side = self.box
        pts = found.points / k + np.array([x0, y0], np.float32)
        fx0, fy0 = pts.min(axis=0)
        fx1, fy1 = pts.max(axis=0)
        size = max(fx1 - fx0, fy1 - fy0)
        cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
        if (abs(cx - (x0 + side / 2)) > 0.12 * side or abs(cy - (y0 + side / 2)) > 0.12 * side
                or not 0.3 < size / side < 0.7):
            h, w = frame.shape[:2]
            self.box = _box_around(cx, cy, 2.0 * size, w, h)
        return pts


def reference_opening(photo: np.ndarray) -> float | None:
    """Mouth opening of the person photo (the rest pose the renderer starts from)."""
    box = find_face_box(photo)
    if box is None:
        return None
    crop, k = face_crop(photo, box)
    mesh = lm.detect_face_mesh(crop)
    return None if mesh is None else mouth_opening(mesh.points)


# --------------------------------------------------------------------------------------------
# Scores on per-frame arrays (NaN where no mouth was measured)


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if x.size < MIN_CORR_FRAMES:
        return None
    sx, sy = float(x.std()), float(y.std())
    if sx < 1e-9 or sy < 1e-9:
        return 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


def lagged_corr(opening: np.ndarray, energy: np.ndarray, speech: np.ndarray, lag: int
                ) -> float | None:
    """r between opening[t + lag] and energy[t] over the frames t where `speech` is set."""
    n = opening.shape[0]
    t = np.flatnonzero(speech)
    t = t[(t + lag >= 0) & (t + lag < n)]
    o, e = opening[t + lag], energy[t]
    ok = np.isfinite(o)
    return _pearson(o[ok], e[ok])


def best_lag(opening: np.ndarray, energy: np.ndarray, speech: np.ndarray,
             max_lag: int = MAX_LAG) -> tuple[int | None, float | None]:
    """(lag, r) maximising `lagged_corr`; a positive lag means the mouth moves after the
    sound. Ties go to the smaller |lag|. (None, None) when there is too little speech."""
    best: tuple[int | None, float | None] = (None, None)
    for lag in sorted(range(-max_lag, max_lag + 1), key=abs):
        r = lagged_corr(opening, energy, speech, lag)
        if r is not None and (best[1] is None or r > best[1] + 1e-9):
            best = (lag, r)
    return best


def closed_threshold(opening: np.ndarray, silent: np.ndarray, planned_closed: np.ndarray,
                     reference: float | None, margin: float = CLOSED_MARGIN,
                     first: int = 12) -> float | None:
    """Opening below which a mouth counts as closed.

    The baseline is the median opening of the first `first` silent frames the plan wants
    closed (same face size, blur and lighting as the rest of the video); a reference photo
    caps it, so a video whose mouth never closes cannot calibrate itself to "open".
    """
    idx = np.flatnonzero(silent & planned_closed & np.isfinite(opening))[:first]
    base = float(np.median(opening[idx])) if idx.size >= 3 else None
    if reference is not None:
        base = reference if base is None else min(base, reference + margin)
    return None if base is None else base + margin


# --------------------------------------------------------------------------------------------
# Visemes: does the mouth take the shape of the phone, not only open with the loudness?

MIN_VISEME_FRAMES = 3  # fewer frames of a class: its score is None


def mouth_width(points: np.ndarray) -> float:
    """Corner-to-corner mouth width / outer eye-corner distance (any pixel scale). Rounded
    lips (o/u/w) are narrower than open ones (a); the eyes do not move with the mouth."""
    eyes = float(np.linalg.norm(points[lm.RIGHT_EYE_OUTER] - points[lm.LEFT_EYE_OUTER]))
    if eyes < 1e-6:
        return float("nan")
    return float(np.linalg.norm(points[lm.MOUTH_RIGHT] - points[lm.MOUTH_LEFT])) / eyes


def viseme_scores(width: np.ndarray, opening: np.ndarray, classes: np.ndarray,
                  threshold: float | None) -> dict:
    """Mouth shape per viseme class over frames where the mouth was measured.

    rounded_width / open_width: median `mouth_width` on frames whose phone is rounded
    (o/u/w) / an open vowel; rounding_ratio: their quotient (< 1: rounded lips are drawn
    narrower); bilabial_closed: share of p/b/m frames whose opening is at most `threshold`
    (the closed threshold of the lip-sync scores). None where a class has too few frames.
    """
    def frames(cls: str, values: np.ndarray) -> np.ndarray:
        return values[(classes == cls) & np.isfinite(values)]

    def median(cls: str) -> float | None:
        v = frames(cls, width)
        return float(np.median(v)) if v.size >= MIN_VISEME_FRAMES else None

    rounded, open_ = median("rounded"), median("open")
    closed = frames("closed", opening)
    return dict(
        rounded_frames=int(frames("rounded", width).size),
        open_frames=int(frames("open", width).size),
        bilabial_frames=int(closed.size),
        rounded_width=rounded, open_width=open_,
        rounding_ratio=rounded / open_ if rounded is not None and open_ else None,
        bilabial_closed=(float(np.mean(closed <= threshold))
                         if threshold is not None and closed.size >= MIN_VISEME_FRAMES else None))
