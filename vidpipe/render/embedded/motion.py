"""Speech-driven body motion for the embedded (CPU) previz backend.

The person layer is animated by a smooth, spatially varying warp (cv2.remap) and re-composed
on the unchanged background with `compose()` every frame:

* the head nods (pitch, driven by `emphasis`), tilts and turns slightly (seeded smooth
  noise scaled by speaking activity) around a pivot in the neck;
* the upper body sways sideways and rises (breathing + emphasis), with a weight that falls
  to zero at the base (the anchor), so the person never slides;
* in pauses everything returns to rest, leaving only a faint idle drift and breathing.

Every frame is a pure function of (layers, features at that frame, seed, absolute frame
index `features.first_frame + i`): no state is carried from frame to frame, so a segment
rendered alone gives the very frames it has inside a whole render and consecutive segments
join seamlessly as long as the features themselves are continuous across the join.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidpipe.media.features import FrameFeatures
from vidpipe.media.video import ClipWriter
from vidpipe.render.easing import smoothstep
from vidpipe.render.embedded import landmarks as lm
from vidpipe.render.embedded.layers import SHADOW_STRENGTH, CompositeLayers, compose

log = logging.getLogger(__name__)
FRAME_THREADS = 2

# Amplitudes (at full emphasis / activity).
NOD_DEG = 3.0  # head pitch at emphasis = 1
TILT_DEG = 1.8  # head roll, seeded noise x activity
TURN_DEG = 2.5  # head yaw (rendered as a sideways shift of the face)
SWAY_FRAC = 0.015  # sideways sway at the shoulders, fraction of body height
RISE_FRAC = 0.004  # shoulder lift on emphasis, fraction of body height
BREATH_FRAC = 0.0025  # breathing rise at the shoulders, fraction of body height
BREATH_PERIOD_S = 4.2
# Idle motion left in pauses (fractions of the above).
IDLE_HEAD_DEG = 0.35
IDLE_SWAY_FRAC = 0.0025


@dataclass
class Rig:
    """Where the head, neck and shoulders are on the person layer (frame pixels)."""

    face_center: tuple[float, float]
    face_size: float  # forehead-to-chin distance
    chin: tuple[float, float]
    pivot: tuple[float, float]  # head rotation centre in the neck
    shoulder_y: float  # where the head's influence has faded out
    neck_x: float
    head_top_y: float
    base: tuple[float, float]  # the anchor: weight is fixed here
    source: str  # "face_mesh", "pose" or "mask" (what the rig was derived from)
    face_box: tuple[float, float, float, float] | None = None

    @property
    def body_height(self) -> float:
        return max(1.0, self.base[1] - self.head_top_y)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Rig":
        def pair(v):
            return None if v is None else tuple(float(x) for x in v)

        return cls(face_center=pair(d["face_center"]), face_size=float(d["face_size"]),
                   chin=pair(d["chin"]), pivot=pair(d["pivot"]),
                   shoulder_y=float(d["shoulder_y"]), neck_x=float(d["neck_x"]),
                   head_top_y=float(d["head_top_y"]), base=pair(d["base"]),
                   source=str(d["source"]), face_box=pair(d.get("face_box")))


@dataclass
class MotionResult:
    path: Path
    n_frames: int
    fps: int
    first_frame: int
    size: tuple[int, int]
    rig: Rig
    # Forward 2x3 affine transforms (rest-pose -> frame pixels) of the head, per frame.
    head_transforms: np.ndarray
    # Per-frame motion parameters: pitch_deg, roll_deg, turn_px, sway_px, rise_px.
    params: np.ndarray
    render_s: float = 0.0
    timings: dict = field(default_factory=dict)

    @property
    def fps_rendered(self) -> float:
        return self.n_frames / self.render_s if self.render_s > 0 else 0.0


# --------------------------------------------------------------------------------------------
# Smooth, seeded, stateless noise


def _smooth_noise(seed: int, channel: int, t: np.ndarray, f_lo: float = 0.12,
                  f_hi: float = 0.55, n: int = 4) -> np.ndarray:
    """A smooth curve in [-1, 1] of absolute time `t` (seconds): a seeded sum of sinusoids."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, channel, 0x6D6F74])
    freqs = rng.uniform(f_lo, f_hi, n)
    phases = rng.uniform(0, 2 * np.pi, n)
    amps = rng.uniform(0.5, 1.0, n)
    s = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None])).sum(0)
    s /= amps.sum()
    return (np.tanh(2.2 * s) / np.tanh(2.2)).astype(np.float64)


def motion_params(features: FrameFeatures, rig: Rig, seed: int, join_seed: int | None = None
                  ) -> np.ndarray:
    """Per-frame (pitch_deg, roll_deg, turn_px, sway_px, rise_px), float64 (n, 5).

    Each row depends only on that frame's features, the seed and the absolute frame index.
    `join_seed`, when it differs from `seed` (a retried segment), is the seed its
    neighbours were rendered with: the motion of `seed` then fades in after the first frame
    and out before the last, which are those of `join_seed` (`continuity`).
    """
    if join_seed is not None and join_seed != seed:
        from vidpipe.render.continuity import blend_inside

        return blend_inside(motion_params(features, rig, join_seed),
                            motion_params(features, rig, seed), features.fps)
    n = features.n_frames
    g = features.first_frame + np.arange(n, dtype=np.float64)
    t = g / float(features.fps)
    e = np.clip(np.asarray(features.emphasis, np.float64), 0, 1)
    v = np.clip(np.asarray(features.voiced, np.float64), 0, 1)
    en = np.clip(np.asarray(features.energy, np.float64), 0, 1)
    talk = v * (0.5 + 0.5 * en)
    act = np.clip(0.65 * e + 0.35 * talk, 0.0, 1.0)

    s = rig.face_size
    body = rig.body_height
    nod_mod = 0.75 + 0.25 * _smooth_noise(seed, 1, t, 0.2, 0.7)
    pitch = NOD_DEG * e * nod_mod + IDLE_HEAD_DEG * _smooth_noise(seed, 2, t, 0.05, 0.2)
    roll = TILT_DEG * act * _smooth_noise(seed, 3, t) + \
        IDLE_HEAD_DEG * _smooth_noise(seed, 4, t, 0.04, 0.15)
    turn_deg = TURN_DEG * act * _smooth_noise(seed, 5, t) + \
        IDLE_HEAD_DEG * _smooth_noise(seed, 6, t, 0.04, 0.15)
    turn_px = np.sin(np.radians(turn_deg)) * 0.5 * s
    sway = body * (SWAY_FRAC * act * _smooth_noise(seed, 7, t, 0.1, 0.4)
                   + IDLE_SWAY_FRAC * _smooth_noise(seed, 8, t, 0.03, 0.12))
    phase = np.random.default_rng([int(seed) & 0xFFFFFFFF, 9]).uniform(0, 2 * np.pi)
    breath = 0.5 - 0.5 * np.cos(2 * np.pi * t / BREATH_PERIOD_S + phase)
    rise = body * (BREATH_FRAC * (1.0 + 0.6 * act) * breath + RISE_FRAC * e)
    return np.stack([pitch, roll, turn_px, sway, rise], axis=1)


def head_affine(rig: Rig, pitch_deg: float, roll_deg: float, turn_px: float) -> np.ndarray:
    """Forward 2x3 affine of the head about the neck pivot (without the torso shift).

    A nod is drawn as the face moving down (its front turns towards the floor) with a slight
    vertical foreshortening; the tilt is an in-plane rotation; the turn a sideways shift.
    """
    s = rig.face_size
    p = math.radians(pitch_deg)
    r = math.radians(roll_deg)
    px, py = rig.pivot
    c, sn = math.cos(r), math.sin(r)
    sy = 1.0 - 0.35 * abs(p)
    lin = np.array([[c, -sn * sy], [sn, c * sy]], np.float64)
    shift = np.array([turn_px, 0.55 * s * math.sin(p)], np.float64)
    off = np.array([px, py]) - lin @ np.array([px, py]) + shift
    return np.hstack([lin, off[:, None]])


# --------------------------------------------------------------------------------------------
# Rig detection


def _bleed_rgb(rgba: np.ndarray) -> np.ndarray:
    """Fill RGB under fully transparent pixels with nearby person colours so bilinear
    resampling at the silhouette never pulls in black (or whatever was there)."""
    out = rgba.copy()
    a = (rgba[..., 3] > 0).astype(np.float32)
    if a.min() > 0 or a.max() == 0:
        return out
    rgb = rgba[..., :3].astype(np.float32) * a[..., None]
    filled = a > 0
    res = out[..., :3].astype(np.float32)
    for k in (5, 13, 31):
        num = cv2.blur(rgb, (k, k))
        den = cv2.blur(a, (k, k))
        ok = (~filled) & (den > 1e-3)
        res[ok] = num[ok] / den[ok][:, None]
        filled |= ok
    out[..., :3] = np.clip(res + 0.5, 0, 255).astype(np.uint8)
    return out


def _on_grey(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3].astype(np.float32) * a + 128.0 * (1 - a)).astype(np.uint8)


def _mask_rig(alpha: np.ndarray, base: tuple[float, float]) -> Rig | None:
    mask = alpha > 127
    rows = np.where(mask.any(axis=1))[0]
    if rows.size == 0:
        return None
    top = float(rows[0])
    body = max(8.0, base[1] - top)
    widths = mask.sum(axis=1).astype(np.float64)
    band = slice(int(top + 0.02 * body), max(int(top + 0.1 * body), int(top + 0.02 * body) + 1))
    w_head = float(np.median(widths[band])) if widths[band].size else 0.15 * body
    s = float(np.clip(1.05 * w_head, 0.06 * body, 0.25 * body))
    ys, xs = np.nonzero(mask[int(top):int(top + 0.12 * body) + 1])
    cx = float(xs.mean()) if xs.size else float(base[0])
    chin_y = top + 1.2 * s
    return Rig(face_center=(cx, top + 0.65 * s), face_size=s, chin=(cx, chin_y),
               pivot=(cx, chin_y + 0.25 * s), shoulder_y=chin_y + 0.55 * s, neck_x=cx,
               head_top_y=top, base=base, source="mask")


def detect_rig(person: np.ndarray, anchor: tuple[float, float]) -> Rig | None:
    """Find head, neck and shoulders on an RGBA person layer (None if it is empty)."""
    alpha = person[..., 3]
    fallback = _mask_rig(alpha, anchor)
    if fallback is None:
        return None
    ys, xs = np.nonzero(alpha > 127)
    h, w = alpha.shape
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx, my = int(0.1 * (x1 - x0)) + 4, int(0.05 * (y1 - y0)) + 4
    x0, y0 = max(0, x0 - mx), max(0, y0 - my)
    x1, y1 = min(w, x1 + mx), min(h, y1 + my)
    crop = _on_grey(person[y0:y1, x0:x1])
    k = max(1.0, 768.0 / max(crop.shape[:2]))
    if k > 1.0:
        crop = cv2.resize(crop, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)

    def to_frame(pts: np.ndarray) -> np.ndarray:
        return pts / k + np.array([x0, y0], np.float32)

    pose = lm.detect_pose(crop)
    face = None
    if pose is not None and pose.visible(lm.NOSE):
        pts = pose.points
        eyes = [i for i in (2, 5, 7, 8) if pose.visible(i, 0.3)]
        spread = np.ptp(pts[eyes, 0]) if len(eyes) >= 2 else 0.1 * crop.shape[0]
        side = max(64.0, 3.2 * spread)
        nx, ny = pts[lm.NOSE]
        fx0, fy0 = int(max(0, nx - side / 2)), int(max(0, ny - side * 0.55))
        fx1, fy1 = int(min(crop.shape[1], nx + side / 2)), int(min(crop.shape[0], ny + side * 0.5))
        if fx1 - fx0 > 16 and fy1 - fy0 > 16:
            fcrop = crop[fy0:fy1, fx0:fx1]
            kk = max(1.0, 384.0 / max(fcrop.shape[:2]))
            if kk > 1.0:
                fcrop = cv2.resize(fcrop, None, fx=kk, fy=kk, interpolation=cv2.INTER_CUBIC)
            f = lm.detect_face_mesh(fcrop)
            if f is not None:
                face = f.points / kk + np.array([fx0, fy0], np.float32)
    if face is None:
        top = crop[: max(32, int(0.5 * crop.shape[0]))]
        f = lm.detect_face_mesh(top)
        if f is not None:
            face = f.points
    if face is None and pose is None:
        return fallback

    base = anchor
    if face is not None:
        face = to_frame(face)
        chin = face[lm.CHIN]
        forehead = face[lm.FOREHEAD]
        s = float(np.linalg.norm(chin - forehead))
        center = face.mean(axis=0)
        box = (float(face[:, 0].min()), float(face[:, 1].min()),
               float(face[:, 0].max()), float(face[:, 1].max()))
        source = "face_mesh"
    else:
        p = to_frame(pose.points)
        nose = p[lm.NOSE]
        eyes = [i for i in (7, 8) if pose.visible(i, 0.3)]
        ear_w = float(np.ptp(p[eyes, 0])) if len(eyes) == 2 else fallback.face_size * 0.8
        s = 1.25 * ear_w
        center = nose
        chin = nose + np.array([0.0, 0.55 * s], np.float32)
        box = None
        source = "pose"

    top_y = min(fallback.head_top_y, float(center[1] - 0.8 * s))
    shoulder_y = float(chin[1] + 0.7 * s)
    neck_x = float(chin[0])
    if pose is not None and pose.visible(lm.L_SHOULDER) and pose.visible(lm.R_SHOULDER):
        p = to_frame(pose.points)
        sh = p[[lm.L_SHOULDER, lm.R_SHOULDER]]
        shoulder_y = float(np.clip(sh[:, 1].mean() - 0.15 * s, chin[1] + 0.3 * s,
                                   chin[1] + 1.2 * s))
        neck_x = float(0.5 * chin[0] + 0.5 * sh[:, 0].mean())
    pivot = (float(chin[0]), float(chin[1] + 0.45 * (shoulder_y - chin[1])))
    return Rig(face_center=(float(center[0]), float(center[1])), face_size=s,
               chin=(float(chin[0]), float(chin[1])), pivot=pivot, shoulder_y=shoulder_y,
               neck_x=neck_x, head_top_y=top_y, base=(float(base[0]), float(base[1])),
               source=source, face_box=box)


# --------------------------------------------------------------------------------------------
# Rendering


def _resize_layers(layers: CompositeLayers, size: tuple[int, int]) -> CompositeLayers:
    w, h = size
    ow, oh = layers.size
    if (w, h) == (ow, oh):
        return layers
    interp = cv2.INTER_AREA if w < ow else cv2.INTER_CUBIC
    bg = cv2.resize(layers.background, (w, h), interpolation=interp)
    person = cv2.resize(_bleed_rgb(layers.person), (w, h), interpolation=interp)
    shadow = np.clip(cv2.resize(layers.shadow.astype(np.float32), (w, h), interpolation=interp),
                     0, 1)
    kx, ky = w / ow, h / oh
    return CompositeLayers(background=bg, person=person, shadow=shadow,
                           anchor=(layers.anchor[0] * kx, layers.anchor[1] * ky),
                           scale=layers.scale * 0.5 * (kx + ky))


def layer_rig(layers: CompositeLayers) -> Rig | None:
    """The rig `MotionRenderer` would find on these layers; the composite stage stores it
    with them (`CompositeLayers.rig`), so the pose model runs once per composite, not once
    per segment."""
    return detect_rig(_bleed_rgb(np.ascontiguousarray(layers.person, dtype=np.uint8)),
                      layers.anchor)


class MotionRenderer:
    """Precomputes the rig, weights and ROI once; `frame(params_row)` is then stateless."""

    def __init__(self, layers: CompositeLayers, rig: Rig | None = None) -> None:
        self.layers = layers
        self.background = np.ascontiguousarray(layers.background[..., :3], dtype=np.uint8)
        self.person = _bleed_rgb(np.ascontiguousarray(layers.person, dtype=np.uint8))
        self.shadow = np.ascontiguousarray(layers.shadow, dtype=np.float32)
        h, w = self.background.shape[:2]
        if rig is None and layers.rig is not None:
            rig = Rig.from_dict(layers.rig)
        if rig is not None and rig.source == "none":
            rig = None
        self.rig = rig if rig is not None else detect_rig(self.person, layers.anchor)
        self.static = compose(self.background, self.person, self.shadow)
        if self.rig is None:  # no person: every frame is the still composite
            self.roi = None
            return
        r = self.rig
        s, body = r.face_size, r.body_height
        margin = int(0.05 * body + 0.3 * s) + 4
        occupied = (self.person[..., 3] > 0) | (self.shadow > 1e-3)
        ys, xs = np.nonzero(occupied)
        x0, x1 = max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)
        y0, y1 = max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)
        self.roi = (slice(y0, y1), slice(x0, x1))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self.X, self.Y = xx, yy

        # Head weight: 1 above the chin, fading out towards the shoulders; below the chin
        # it is also confined horizontally to the neck.
        cy = r.chin[1]
        span = max(2.0, r.shoulder_y - cy)
        t = (yy - cy) / span
        wy = 1.0 - smoothstep(t)
        narrow = smoothstep((yy - cy + 0.1 * s) / (0.4 * s))
        hx = np.exp(-(((xx - r.neck_x) / (0.6 * s)) ** 2))
        wh = (wy * ((1.0 - narrow) + narrow * hx)).astype(np.float32)
        # Torso weight: 0 at the base (anchor), 1 at the shoulders and above.
        wt = smoothstep((r.base[1] - yy) / max(2.0, r.base[1] - r.shoulder_y)).astype(np.float32)
        self.Wh, self.Wt = wh, wt
        self.WhX, self.WhY = wh * xx, wh * yy
        self.bg_roi = np.ascontiguousarray(self.background[self.roi])
        self.person_roi = np.ascontiguousarray(self.person[self.roi])
        self.shadow_roi = np.ascontiguousarray(self.shadow[self.roi])
        self._scratch = threading.local()  # per-thread maps: frames render side by side
        self.bg_roi_f = self.bg_roi.astype(np.float32)
        self._fast = True
        self._fast = np.array_equal(self._compose(self.person_roi, self.shadow_roi),
                                    compose(self.bg_roi, self.person_roi, self.shadow_roi))
        if not self._fast:
            log.info("motion: compose() is not a plain per-pixel blend; using it on the full ROI")

    def transforms(self, row: np.ndarray) -> np.ndarray:
        """Forward 2x3 head transform (torso shift included) for a params row."""
        pitch, roll, turn, sway, rise = (float(v) for v in row)
        a = head_affine(self.rig, pitch, roll, turn)
        a[0, 2] += sway
        a[1, 2] -= rise
        return a

    def _maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        maps = getattr(self._scratch, "maps", None)
        if maps is None:
            maps = self._scratch.maps = tuple(np.empty_like(self.X) for _ in range(3))
        return maps

    def frames(self, params: np.ndarray, threads: int = FRAME_THREADS) -> Iterator[np.ndarray]:
        """`frame(row)` of every row, in order, `threads` at a time. A frame is numpy and
        OpenCV work that releases the GIL, so a segment rendered alone uses both cores
        (measured 1.2 s instead of 1.6 s for 141 frames at 640x360); a few frames are
        held at most."""
        if threads <= 1 or len(params) < 2:
            yield from (self.frame(row) for row in params)
            return
        with ThreadPoolExecutor(threads, thread_name_prefix="motion") as pool:
            ahead = collections.deque(pool.submit(self.frame, row)
                                      for row in params[:2 * threads])
            for row in params[2 * threads:]:
                yield ahead.popleft().result()
                ahead.append(pool.submit(self.frame, row))
            while ahead:
                yield ahead.popleft().result()

    def frame(self, row: np.ndarray) -> np.ndarray:
        if self.roi is None:
            return self.static.copy()
        pitch, roll, turn, sway, rise = (float(v) for v in row)
        fwd = head_affine(self.rig, pitch, roll, turn)
        inv = cv2.invertAffineTransform(fwd)
        # src = p + Wh * (inv(p) - p) - Wt * (sway, -rise)
        a, b, c = inv[0, 0] - 1.0, inv[0, 1], inv[0, 2]
        d, e, f = inv[1, 0], inv[1, 1] - 1.0, inv[1, 2]
        mx, my, tmp = self._maps()
        np.multiply(self.WhX, a, out=mx)
        np.multiply(self.WhY, b, out=tmp)
        mx += tmp
        np.multiply(self.Wh, c, out=tmp)
        mx += tmp
        np.multiply(self.Wt, -sway, out=tmp)
        mx += tmp
        mx += self.X
        np.multiply(self.WhX, d, out=my)
        np.multiply(self.WhY, e, out=tmp)
        my += tmp
        np.multiply(self.Wh, f, out=tmp)
        my += tmp
        np.multiply(self.Wt, rise, out=tmp)
        my += tmp
        my += self.Y
        y0, x0 = self.roi[0].start, self.roi[1].start
        mx -= x0
        my -= y0
        m1, m2 = cv2.convertMaps(mx, my, cv2.CV_16SC2)
        person = cv2.remap(self.person_roi, m1, m2, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        shadow = cv2.remap(self.shadow_roi, m1, m2, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out = self.static.copy()
        out[self.roi] = self._compose(person, shadow)
        return out

    def _compose(self, person: np.ndarray, shadow: np.ndarray) -> np.ndarray:
        """`compose()` on the ROI, with OpenCV's float kernels and the background already in
        float: 3x faster than numpy on a 400x300 ROI (measured 2.8 vs 10 ms a frame). Set-up
        checks it gives exactly `compose()`'s pixels on the rest pose, else `compose()` is
        used (and logged)."""
        if not self._fast:
            return compose(self.bg_roi, person, shadow)
        k = cv2.addWeighted(shadow, -SHADOW_STRENGTH, shadow, 0.0, 1.0)  # 1 - s * shadow
        a = person[..., 3].astype(np.float32)
        a *= np.float32(1.0 / 255.0)
        wbg = k * (1.0 - a)
        out = cv2.add(cv2.multiply(person[..., :3].astype(np.float32), cv2.merge([a, a, a])),
                      cv2.multiply(self.bg_roi_f, cv2.merge([wbg, wbg, wbg])))
        out += np.float32(0.5)
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)


def render_motion(layers: CompositeLayers, features: FrameFeatures, out_path: Path, *,
                  seed: int, size: tuple[int, int] | None = None,
                  rig: Rig | None = None, crf: int = 0,
                  join_seed: int | None = None) -> MotionResult:
    """Write an MP4 of exactly `features.n_frames` frames at `features.fps`.

    `join_seed`: the neighbours' seed, for a retry with a seed of its own (`motion_params`).

    `size` (w, h) resizes the layers first (default: the layers' size). `rig` may be given
    to skip detection (e.g. `MotionResult.rig` of an earlier segment of the same layers at
    the same size; detection is deterministic, so omitting it gives the same frames).
    `crf` of the clip: the default 0 is lossless (H.264 High 4:4:4 Predictive profile: an
    intermediate for ffmpeg, not for browsers). Separately encoded lossy segments each start with an I-frame
    whose independent coding noise shows as a faint texture "pop" at every join (measured
    ~1.2 levels mean over the person at crf 12, 10x a normal frame step); lossless working
    clips remove it, and a later lossy upscale of smoother content no longer shows it.
    """
    out_path = Path(out_path)
    t0 = time.perf_counter()
    if size is not None and tuple(size) != layers.size:
        layers = _resize_layers(layers, (int(size[0]), int(size[1])))
    renderer = MotionRenderer(layers, rig=rig)
    t_setup = time.perf_counter() - t0
    r = renderer.rig
    n = features.n_frames
    if n <= 0:
        raise ValueError("features hold no frames")
    if r is not None:
        params = motion_params(features, r, seed, join_seed)
        heads = np.stack([renderer.transforms(row) for row in params]).astype(np.float32)
    else:
        params = np.zeros((n, 5))
        heads = np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (n, 1, 1))
        log.warning("render_motion: the person layer is empty; writing a still clip")
    w, h = layers.size
    t1 = time.perf_counter()
    preset = "ultrafast" if crf == 0 else "veryfast"  # lossless: ultrafast codes/decodes 2x faster
    with ClipWriter(out_path, (w, h), features.fps, crf=crf, preset=preset) as writer:
        for frame in renderer.frames(params):
            writer.write(frame)
    total = time.perf_counter() - t0
    rig_out = r if r is not None else Rig((0, 0), 0, (0, 0), (0, 0), 0, 0, 0, layers.anchor,
                                          "none")
    return MotionResult(path=out_path, n_frames=n, fps=features.fps,
                        first_frame=features.first_frame, size=(w, h), rig=rig_out,
                        head_transforms=heads, params=params.astype(np.float32),
                        render_s=total,
                        timings={"setup_s": t_setup, "frames_s": time.perf_counter() - t1})
