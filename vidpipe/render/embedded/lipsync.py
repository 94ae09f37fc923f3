"""Mouth opening from speech features, on any clip (it only needs frames).

Per frame the face is tracked with mediapipe's face mesh in video mode (on a fixed,
upscaled crop around the face, so small faces in wide frames are found); then the mouth is
opened by `features.mouth_open[i]`:

* a local warp moves the lower lip and the chin down along the face's vertical axis
  (jaw-like: most at the centre, fading towards the mouth corners and jaw sides, and back to
  zero below the chin); the upper lip lifts a little;
* the revealed gap between the inner lip contours is painted as a mouth cavity (dark red,
  deepest in the middle, a hint of upper teeth when wide open, a tongue at the bottom);
* the lips keep their own pixels (they are moved, not repainted);
* `features.rounding[i]` (o/u/w) pulls the corners in and pushes the lips forward, and makes
  the opening a smaller oval in the middle of the lips.

Frames with mouth_open ~ 0 and no rounding are written untouched; frames where no face is
found pass through unchanged and are counted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidpipe.media.features import FrameFeatures
from vidpipe.media.video import ClipWriter, iter_frames, probe_video
from vidpipe.render.easing import smoothstep
from vidpipe.render.embedded import landmarks as lm

log = logging.getLogger(__name__)

OPEN_FRAC = 0.32  # inner-lip gap at mouth_open = 1, as a fraction of the mouth width
CLOSED_EPS = 0.02  # below this mouth_open the frame is left untouched
UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
CROP_PX = 256  # the face crop is resampled to this size for the tracker
# Lips already apart in the photo (a smile showing teeth) open at least this share of the
# full opening further, whatever their gap. At 0.4 an open smile (gap ~0.28 of the mouth
# width, person 00121) moved by 2-3 px in the motion clip and its lip-sync r was 0.60-0.66
# on the radio sample; at 0.5 it is 0.71-0.74 (`vidpipe eval`), and closed-lip faces
# (which open by the full amount) do not change.
SMILE_OPEN = 0.5
# Rounding (o/u/w): at rounding = 1 the mouth corners move in by about a quarter of the mouth
# width, the lips close in over 30 % of the opening's height (a smaller opening, not only a
# narrower one) and look 15 % fuller (pushed forward), and the opening spans the middle 70 %
# of the inner lips instead of all of it. Measured on the demo (`vidpipe qa`): o/u/w frames
# 0.75x as wide as open-vowel frames, lip-sync r 0.70 (0.74 unrounded: the QA divides the
# gap by the mouth width, which rounding shrinks); ROUND_NARROW 0.3 gave 0.83x / r 0.71,
# ROUND_SHUT 0.5 gave 0.64x / r 0.69.
ROUND_NARROW = 0.42
ROUND_SHUT = 0.3
ROUND_FULL = 0.15
ROUND_OPENING = 0.3
ROUND_EPS = 0.02  # below this rounding the lips keep their shape
# While speaking, the opening is articulated from closed lips, whatever the photo's rest
# gap: amount 0 (p/b/m, the caps of `phonemes.CAP`) closes even a smile showing teeth, the
# lips pressing over the gap as pursing closes them (teeth hidden, not squashed). In
# silence the face keeps the photo's gap and openings add to it. `speech` (the frame's
# voice activity) blends the two. Lips less than SHUT_MIN_PX apart are left as they are.
CLOSE_EPS = 0.02
SPEECH_EPS = 0.02
SHUT_MIN_PX = 0.5
# Mouth widths (px, in the clip being lip-synced) over which speaking from closed lips fades
# in. At 640x360 the demo's mouth is ~10 px wide in the motion clip (gap 1.3 px) and its
# lip-sync r fell from 0.29-0.50 to 0.07; at 1280x720 the sample mouths are 14-19 px wide.
SPEECH_WIDTH_PX = (10.0, 14.0)
# Below the photo's gap the lips press as (gap / photo gap) ** PRESS_CURVE: a sliver of teeth
# already reads as open, and with a linear press small amounts looked half open. Lip-sync r
# on the radio sample with person 00121 (an open smile), linear / 2 / 3: 0.50 / 0.63 / 0.68;
# the demo 0.74 / 0.80 / 0.83. p/b/m frames closed: 100 % in each (36 % when amount 0 went
# back to the photo's smile).
PRESS_CURVE = 3.0


@dataclass
class LipsyncResult:
    path: Path
    n_frames: int
    n_no_face: int  # frames where no face was found (passed through unchanged)
    n_opened: int  # frames whose mouth was modified
    fps: float
    render_s: float = 0.0
    timings: dict = field(default_factory=dict)

    @property
    def fps_rendered(self) -> float:
        return self.n_frames / self.render_s if self.render_s > 0 else 0.0


# --------------------------------------------------------------------------------------------
# Face tracking on a stable crop


class _CroppedTracker:
    """FaceTracker on a fixed square crop around the face, re-centred only when needed."""

    def __init__(self) -> None:
        self.tracker = lm.FaceTracker()
        self.box: tuple[int, int, int] | None = None  # x0, y0, side
        self._next_detect = 0

    def close(self) -> None:
        self.tracker.close()

    def _set_crop(self, cx: float, cy: float, side: float, w: int, h: int) -> None:
        side = int(min(max(side, 48), max(w, h)))
        x0 = int(round(cx - side / 2))
        y0 = int(round(cy - side / 2))
        self.box = (x0, y0, side)

    def _find(self, frame: np.ndarray) -> bool:
        h, w = frame.shape[:2]
        boxes = lm.detect_faces(frame)
        if boxes:
            x0, y0, x1, y1, _ = boxes[0]
            self._set_crop((x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0),
                           2.2 * max(x1 - x0, y1 - y0), w, h)
            return True
        mesh = lm.detect_face_mesh(frame)
        if mesh is not None:
            x0, y0, x1, y1 = mesh.box
            self._set_crop((x0 + x1) / 2, (y0 + y1) / 2, 2.0 * max(x1 - x0, y1 - y0), w, h)
            return True
        return False

    def _crop(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        x0, y0, side = self.box
        h, w = frame.shape[:2]
        # Pad with edge pixels where the crop leaves the frame.
        px0, py0 = max(0, -x0), max(0, -y0)
        px1, py1 = max(0, x0 + side - w), max(0, y0 + side - h)
        sub = frame[max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
        if px0 or py0 or px1 or py1:
            sub = cv2.copyMakeBorder(sub, py0, py1, px0, px1, cv2.BORDER_REPLICATE)
        k = CROP_PX / side
        interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
        return cv2.resize(sub, (CROP_PX, CROP_PX), interpolation=interp), k

    def process(self, frame: np.ndarray, index: int) -> np.ndarray | None:
        if self.box is None:
            if index < self._next_detect or not self._find(frame):
                self._next_detect = max(self._next_detect, index + 5)
                return None
        crop, k = self._crop(frame)
        found = self.tracker.process(crop)
        if found is None:
            return None
        x0, y0, side = self.box
        pts = found.points / k + np.array([x0, y0], np.float32)
        # Re-centre if the face drifted towards the crop's edge.
        c = pts.mean(axis=0)
        fx0, fy0 = pts.min(axis=0)
        fx1, fy1 = pts.max(axis=0)
        fsize = max(fx1 - fx0, fy1 - fy0)
        if (abs(c[0] - (x0 + side / 2)) > 0.15 * side or abs(c[1] - (y0 + side / 2)) > 0.15 * side
                or not 0.3 < fsize / side < 0.75):
            h, w = frame.shape[:2]
            self._set_crop(c[0], c[1], 2.0 * fsize, w, h)
        return pts


# --------------------------------------------------------------------------------------------
# Mouth geometry and rendering


@dataclass
class MouthFrame:
    """The mouth in a face-aligned frame: u along the mouth corners, v down the face."""

    origin: np.ndarray  # (2,) between the inner lips
    ex: np.ndarray
    ey: np.ndarray
    width: float  # outer corner distance
    upper_u: np.ndarray  # inner contours sampled as (u, v), sorted by u
    upper_v: np.ndarray
    lower_u: np.ndarray
    lower_v: np.ndarray
    chin_v: float
    u_c: float  # centre and half width of the inner mouth along u
    half: float
    lip_upper: float  # lip heights (outer to inner edge) at the centre
    lip_lower: float

    @classmethod
    def from_points(cls, pts: np.ndarray) -> "MouthFrame":
        ml, mr = pts[lm.MOUTH_LEFT], pts[lm.MOUTH_RIGHT]
        ex = mr - ml
        width = float(np.linalg.norm(ex))
        ex = ex / max(width, 1e-6)
        ey = np.array([-ex[1], ex[0]], np.float32)
        origin = 0.5 * (pts[lm.LIP_UPPER_INNER] + pts[lm.LIP_LOWER_INNER])
        if float(np.dot(pts[lm.CHIN] - origin, ey)) < 0:
            ey = -ey

        def uv(idx):
            d = pts[idx] - origin
            u, v = d @ ex, d @ ey
            o = np.argsort(u)
            return u[o].astype(np.float32), v[o].astype(np.float32)

        uu, uv_ = uv(UPPER_INNER)
        lu, lv = uv(LOWER_INNER)
        lv = np.maximum(lv, np.interp(lu, uu, uv_))
        ucorner = np.array([uu[0], uu[-1]])
        return cls(origin=origin.astype(np.float32), ex=ex.astype(np.float32), ey=ey,
                   width=width, upper_u=uu, upper_v=uv_, lower_u=lu, lower_v=lv,
                   chin_v=float(np.dot(pts[lm.CHIN] - origin, ey)),
                   u_c=float(ucorner.mean()), half=float(max(1.0, 0.5 * np.ptp(ucorner))),
                   lip_upper=max(0.08 * width, float((pts[lm.LIP_UPPER_INNER]
                                                      - pts[lm.LIP_UPPER_OUTER]) @ ey)),
                   lip_lower=max(0.08 * width, float((pts[lm.LIP_LOWER_OUTER]
                                                      - pts[lm.LIP_LOWER_INNER]) @ ey)))

    @property
    def gap(self) -> float:
        """Current opening between the inner lips at the centre."""
        return float(np.interp(self.u_c, self.lower_u, self.lower_v)
                     - np.interp(self.u_c, self.upper_u, self.upper_v))


def _lip_colour(frame: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts[lm.OUTER_LIPS]).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(pts[lm.INNER_LIPS]).astype(np.int32)], 0)
    sel = frame[mask > 0]
    if sel.shape[0] < 3:
        return np.array([150, 80, 80], np.float32)
    return np.median(sel, axis=0).astype(np.float32)


def _squeeze(u: np.ndarray, v: np.ndarray, m: MouthFrame, rounding: float) -> np.ndarray:
    """Where each column u of the rounded mouth comes from: the corners are pulled towards
    the centre, most on the lips, fading over the cheeks and barely touching the nose. The
    map stays monotonic (a Gaussian squeeze folds only for ROUND_NARROW > ~2)."""
    du = u - m.u_c
    w = m.width
    gu = np.exp(-0.5 * (du / (0.55 * w)) ** 2)
    gv = np.exp(-0.5 * (v / np.where(v < 0, 0.3 * w, 0.5 * w)) ** 2)
    # Tapers to exactly zero at the warped region's edges (|u| = 1.7 w, v = -0.8 w).
    edge = smoothstep((1.7 * w - np.abs(u)) / (0.4 * w)) * smoothstep((v + 0.8 * w) / (0.3 * w))
    return m.u_c + du * (1.0 + ROUND_NARROW * rounding * gu * gv * edge)


def _purse(v: np.ndarray, top: np.ndarray, bot: np.ndarray, m: MouthFrame,
           shut: np.ndarray, fuller: np.ndarray) -> np.ndarray:
    """Where each v of the pursed or pressed mouth comes from, per column: the lips close
    in over the interior [top, bot], covering the share `shut` of it (teeth stay where
    they are, so they are hidden, not squashed), and get thicker by `fuller`, which is how
    lips pushed forward look from the front; beyond the lips' outer edge the shift fades
    out over a third of the mouth width."""
    c = 0.5 * (top + bot)
    hgt = 0.5 * np.maximum(bot - top, 0.0)
    y = v - c
    side = np.where(y < 0, -1.0, 1.0)
    ay = np.abs(y)
    alpha = 1.0 - shut
    beta = fuller
    lip = np.where(y < 0, m.lip_upper, m.lip_lower)
    a1 = alpha * hgt  # the inner lip edge, pursed
    a2 = a1 + lip * (1.0 + beta)  # the outer lip edge, pursed
    shift = a2 - (hgt + lip)
    fade = 1.0 - smoothstep((ay - a2) / (0.35 * m.width))
    x = np.where(ay <= a1, ay, np.where(ay <= a2, hgt + (ay - a1) / (1.0 + beta),
                                        ay - shift * fade))
    return c + side * x


def open_mouth(frame: np.ndarray, pts: np.ndarray, amount: float,
               lip_rgb: np.ndarray | None = None, rounding: float = 0.0,
               speech: float = 0.0) -> np.ndarray:
    """Return a copy of `frame` with the mouth opened by `amount` in [0, 1] and rounded by
    `rounding` in [0, 1]; `speech` in [0, 1] says how far the opening is articulated from
    closed lips rather than from the photo's rest gap (see the comment above CLOSE_EPS).

    In silence the opening adds to whatever gap the lips already have (a smiling photo with
    visible teeth still opens further); while speaking it starts from pressed lips. What was
    already inside the mouth moves with the upper and lower lip (upper teeth stay with the
    upper lip) and only the newly revealed band in between is painted as the cavity.
    Rounding narrows the opening into a rounder oval in the middle of the lips, squeezes the
    mouth from the corners (`_squeeze`) and purses the lips (`_purse`); a closed mouth can
    be rounded too (the lips of "w", the m of "moon").
    """
    amount = float(np.clip(amount, 0.0, 1.0))
    rounding = float(np.clip(rounding, 0.0, 1.0))
    speech = float(np.clip(speech, 0.0, 1.0))
    if amount < CLOSED_EPS and rounding < ROUND_EPS and speech < SPEECH_EPS:
        return frame
    m = MouthFrame.from_points(pts)
    if m.width < 4:
        return frame
    h, w = frame.shape[:2]
    full = OPEN_FRAC * m.width
    gap0 = max(0.0, m.gap)
    widest = gap0 + max(full - gap0, SMILE_OPEN * full)  # the gap at amount 1
    # On a small mouth pressing a gap of a pixel or two cannot be drawn: it keeps the opening
    # added to the photo's gap, which can.
    speech *= float(smoothstep((m.width - SPEECH_WIDTH_PX[0])
                               / (SPEECH_WIDTH_PX[1] - SPEECH_WIDTH_PX[0])))
    amount = amount if amount >= CLOSED_EPS else 0.0
    # the gap between the inner lips at the centre: from closed lips while speaking, from
    # the photo's gap in silence
    spoken = amount * widest
    if spoken < gap0:  # lips pressing over the photo's gap
        spoken = gap0 * (spoken / gap0) ** PRESS_CURVE
    gap = speech * spoken + (1.0 - speech) * (gap0 + amount * (widest - gap0))
    d = max(0.0, gap - gap0)  # extra opening at the centre
    # the share of the photo's gap the lips close over
    closure = (gap0 - gap) / gap0 if gap0 >= SHUT_MIN_PX and gap < gap0 else 0.0
    if d < 0.3:
        d = 0.0
        if rounding < ROUND_EPS and closure < CLOSE_EPS:
            return frame
    chin_v = max(m.chin_v, 0.8 * m.width)
    # ROI in frame coordinates.
    us = np.array([-1.7, 1.7]) * m.width
    vs = np.array([-0.8 * m.width, 1.9 * chin_v + d])
    corners = np.array([m.origin + u * m.ex + v * m.ey for u in us for v in vs])
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 3
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return frame
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - m.origin[0], yy - m.origin[1]
    u = dx * m.ex[0] + dy * m.ex[1]
    v = dx * m.ey[0] + dy * m.ey[1]
    if rounding >= ROUND_EPS:
        u = _squeeze(u, v, m, rounding)

    # A rounded opening keeps the corners shut and bulges more (an oval, not a slot), and
    # the upper lip takes a larger share of it.
    xn = (u - m.u_c) / (m.half * (1.0 - ROUND_OPENING * rounding))
    fx_lip = np.clip(1.0 - xn * xn, 0.0, 1.0) ** (0.8 - 0.3 * rounding)
    share = 0.12 + 0.25 * rounding  # upper-lip lift / lower-lip drop
    a = d * fx_lip * 1.12 / (1.0 + share)  # lower-lip drop per column
    jaw = 1.1 * d * np.exp(-0.5 * (u / (0.6 * m.width)) ** 2)
    lift = share * a  # upper-lip lift per column
    lu = np.interp(u, m.upper_u, m.upper_v).astype(np.float32)
    ll = np.interp(u, m.lower_u, m.lower_v).astype(np.float32)
    mid = 0.5 * (lu + ll)  # where the existing interior splits between the lips
    top = lu - lift  # inner edge of the raised upper lip
    bot = ll + a  # inner edge of the dropped lower lip
    new_top, new_bot = mid - lift, mid + a  # the newly revealed band
    if rounding >= ROUND_EPS or closure >= CLOSE_EPS:
        du = (u - m.u_c) / (0.55 * m.width)
        edge = smoothstep((1.7 * m.width - np.abs(u)) / (0.4 * m.width))
        weight = rounding * np.exp(-0.5 * du * du) * edge if rounding >= ROUND_EPS else 0.0
        # a closure comes without an opening (d = 0), so [top, bot] is the photo's own gap
        shut = 1.0 - (1.0 - ROUND_SHUT * weight) * (1.0 - closure)
        v = _purse(v, top, bot, m, shut, ROUND_FULL * weight)

    # Backward map along the face's vertical axis (u is unchanged).
    g = np.exp(-(((top - v) / (0.25 * m.width)) ** 2))
    src_v = np.where(v < top, v + lift * g, v + lift)
    src_v = np.where(src_v > mid, mid, src_v)
    lower = v - a
    src_v = np.where(lower >= mid, lower, src_v)
    below = v > bot
    t = smoothstep((v - bot) / max(1.0, 0.6 * (chin_v - float(np.interp(m.u_c, m.lower_u,
                                                                          m.lower_v)))))
    drop = a + (jaw - a) * t
    fall = 1.0 - smoothstep((v - (chin_v + 1.1 * d)) / (0.7 * chin_v))
    src_v = np.where(below, v - drop * fall, src_v)

    mapx = (m.origin[0] + u * m.ex[0] + src_v * m.ey[0]).astype(np.float32)
    mapy = (m.origin[1] + u * m.ex[1] + src_v * m.ey[1]).astype(np.float32)
    out = frame.copy()
    warped = cv2.remap(frame, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    # Cavity: soft-edged newly revealed band.
    cav = np.clip(v - new_top + 0.5, 0, 1) * np.clip(new_bot - v + 0.5, 0, 1) * (fx_lip > 0)
    cav = cav.astype(np.float32)
    if d > 0 and cav.max() > 0:
        span = np.maximum(new_bot - new_top, 1e-3)
        yn = np.clip((v - new_top) / span, 0, 1)
        depth = np.clip(np.clip(1.0 - xn * xn, 0, 1) * np.sin(np.pi * yn), 0, 1) ** 0.6
        c_edge = np.array([100, 34, 38], np.float32)
        c_deep = np.array([32, 8, 11], np.float32)
        col = c_edge + (c_deep - c_edge) * depth[..., None]
        col *= (0.75 + 0.25 * yn)[..., None]  # shadow under the upper lip
        if lip_rgb is not None:  # wet inner rim takes a darkened lip tint
            rim = np.exp(-((np.minimum(v - top, bot - v)) / 1.2) ** 2)[..., None]
            col = col + (0.45 * lip_rgb - col) * 0.5 * rim
        # Tongue low in the mouth.
        tongue = (0.5 * smoothstep((yn - 0.55) / 0.35) * np.clip(1 - xn * xn, 0, 1))[..., None]
        col = col + (np.array([145, 62, 66], np.float32) - col) * tongue
        # Upper teeth: a pale band under the upper lip when the mouth is wide open (only if
        # the photo shows no interior of its own, whose teeth then move with the lips).
        teeth_a = float(smoothstep((amount - 0.35) / 0.4)) * float(
            np.clip(1.0 - gap0 / (0.08 * m.width), 0.0, 1.0))
        if teeth_a > 0:
            band = max(0.9, min(0.14 * m.width, 0.3 * float(span.max())))
            tb = np.clip((new_top + band - v) / 0.8 + 0.5, 0, 1) * np.clip(1 - (xn / 0.75) ** 2,
                                                                            0, 1)
            shade = (0.6 + 0.4 * np.clip(1 - xn * xn, 0, 1))[..., None]
            tcol = np.array([212, 206, 196], np.float32) * shade
            ta = (0.85 * teeth_a * tb)[..., None]
            col = col + (tcol - col) * ta
        # Match the scene's lighting (skin brightness around the mouth).
        skin = frame[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
        luma = float(np.median(skin @ np.array([0.299, 0.587, 0.114], np.float32)))
        col *= float(np.clip(luma / 165.0, 0.45, 1.25))
        cav3 = cav[..., None]
        warped = warped.astype(np.float32) * (1 - cav3) + col * cav3
        warped = np.clip(warped + 0.5, 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = warped
    return out


# --------------------------------------------------------------------------------------------


def _reference_lip_colour(reference_face: np.ndarray | None) -> np.ndarray | None:
    if reference_face is None:
        return None
    mesh = lm.detect_face_mesh(reference_face)
    if mesh is None:
        return None
    return _lip_colour(np.ascontiguousarray(reference_face[..., :3]), mesh.points)


def apply_lipsync(clip_in: Path, features: FrameFeatures, clip_out: Path, *,
                  reference_face: np.ndarray | None = None, crf: int = 0) -> LipsyncResult:
    """Open the mouth of the face in `clip_in` by `features.mouth_open` and round it by
    `features.rounding` -> `clip_out`.

    `reference_face`: optional RGB image of the person's face (e.g. the try-on photo); its
    lip colour tints the inner rim of the mouth (else the clip's own lips are used).
    The output has exactly the input's frame count; if it differs from `features.n_frames`
    the extra frames are treated as closed-mouth (and a warning is logged).
    `crf` of the output clip (default 0 = lossless, for seamless joins; see `render_motion`).
    """
    clip_in, clip_out = Path(clip_in), Path(clip_out)
    t0 = time.perf_counter()
    info = probe_video(clip_in)
    if info.n_frames != features.n_frames:
        log.warning("apply_lipsync: %s has %d frames, features %d", clip_in, info.n_frames,
                    features.n_frames)
    lip_rgb = _reference_lip_colour(reference_face)
    mouth, rounding, voiced = (np.clip(np.asarray(x, np.float32), 0, 1) for x in
                               (features.mouth_open, features.rounding, features.voiced))

    def at(values: np.ndarray, i: int) -> float:  # frames past the features' end: 0
        return float(values[i]) if i < values.shape[0] else 0.0

    n = no_face = opened = 0
    t_track = t_warp = 0.0
    tracker = _CroppedTracker()
    try:
        preset = "ultrafast" if crf == 0 else "veryfast"  # lossless: 2x faster, same quality
        with ClipWriter(clip_out, (info.width, info.height), info.fps, crf=crf,
                        preset=preset) as writer:
            for i, frame in enumerate(iter_frames(clip_in)):
                n += 1
                ta = time.perf_counter()
                pts = tracker.process(frame, i)
                tb = time.perf_counter()
                t_track += tb - ta
                if pts is None:
                    no_face += 1
                    writer.write(frame)
                    continue
                if lip_rgb is None:
                    lip_rgb = _lip_colour(frame, pts)
                out = open_mouth(frame, pts, at(mouth, i), lip_rgb, at(rounding, i),
                                 at(voiced, i))
                if out is not frame:
                    opened += 1
                writer.write(out)
                t_warp += time.perf_counter() - tb
    finally:
        tracker.close()
    total = time.perf_counter() - t0
    if no_face:
        log.info("apply_lipsync: no face in %d of %d frames of %s", no_face, n, clip_in)
    return LipsyncResult(path=clip_out, n_frames=n, n_no_face=no_face, n_opened=opened,
                         fps=info.fps, render_s=total,
                         timings={"track_s": t_track, "mouth_s": t_warp})
