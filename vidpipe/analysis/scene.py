"""Offline scene analysis: where the light comes from, its colour and hardness, the mood,
the camera framing and the focal points of a scene photo.

Everything here is classical image statistics (no model, no network) and deterministic:
the same pixels always give the same analysis. Directions are in the image plane with
x to the right and y downwards; the azimuth is measured counter-clockwise from "light
coming from the right of the frame" (0 deg), so 90 deg is light from the top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, Field

# Linear sRGB (D65) to CIE XYZ.
_RGB2XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                     [0.2126729, 0.7151522, 0.0721750],
                     [0.0193339, 0.1191920, 0.9503041]], dtype=np.float64)
_WORK_SIDE = 512


class LightEstimate(BaseModel):
    azimuth_deg: float  # 0 = from the right, 90 = from the top, 180 = from the left, -90 = below
    vector: tuple[float, float]  # unit (x, y) in image coordinates, pointing towards the light
    strength: float  # 0..1, how directional the light is (0 = flat, frontal)
    label: str  # "left" | "right" | "top" | "front"
    colour_rgb: tuple[int, int, int]  # sRGB of the light, brightest channel = 255
    colour_temperature_k: float  # correlated colour temperature (McCamy)
    source_rgb: tuple[int, int, int]  # sRGB of the brightest regions (the sources themselves)
    source_temperature_k: float
    hardness: float  # 0 = soft, 1 = hard (highlight/shadow contrast)


class Framing(BaseModel):
    shot: str  # "wide" | "medium" | "close"
    angle: str  # "eye level" | "high" | "low"
    horizon: float  # row of the horizon as a fraction of the height (may be outside 0..1)
    vanishing_point: tuple[float, float] | None  # (x, y) as fractions of width/height
    horizon_confidence: float


class FocalPoint(BaseModel):
    x: float  # fraction of the width
    y: float  # fraction of the height
    weight: float  # 0..1, relative saliency


class SceneAnalysis(BaseModel):
    schema_version: int = 1
    width: int
    height: int
    light: LightEstimate
    mean_brightness: float  # 0..1 (mean sRGB luma)
    saturation: float  # 0..1
    warmth: float  # -1 (cool) .. 1 (warm)
    colour_mix: bool  # several strongly different light hues (e.g. neon)
    mood: str
    framing: Framing
    focal_points: list[FocalPoint] = Field(default_factory=list)


@dataclass
class HorizonEstimate:
    row: float  # fraction of the height
    vanishing_point: tuple[float, float] | None  # fractions
    confidence: float  # 0..1
    method: str  # "vanishing" | "horizontal" | "default"


# ---------------------------------------------------------------------------- helpers

def _small(rgb: np.ndarray, side: int = _WORK_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s >= 1.0:
        return np.ascontiguousarray(rgb[..., :3])
    return cv2.resize(np.ascontiguousarray(rgb[..., :3]), (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    c = np.clip(lin, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _xy(linear_rgb) -> tuple[float, float]:
    xyz = _RGB2XYZ @ np.asarray(linear_rgb, dtype=np.float64).reshape(3)
    s = float(xyz.sum())
    if s <= 1e-9:
        return 0.3127, 0.3290
    return float(xyz[0] / s), float(xyz[1] / s)


def _planck_xy(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planckian locus chromaticity (Kim et al. 2002 cubic approximation, 1667-25000 K)."""
    t = np.asarray(t, dtype=np.float64)
    x = np.where(t <= 4000,
                 -0.2661239e9 / t ** 3 - 0.2343589e6 / t ** 2 + 0.8776956e3 / t + 0.179910,
                 -3.0258469e9 / t ** 3 + 2.1070379e6 / t ** 2 + 0.2226347e3 / t + 0.240390)
    y = np.where(t <= 2222,
                 -1.1063814 * x ** 3 - 1.34811020 * x ** 2 + 2.18555832 * x - 0.20219683,
                 np.where(t <= 4000,
                          -0.9549476 * x ** 3 - 1.37418593 * x ** 2 + 2.09137015 * x - 0.16748867,
                          3.0817580 * x ** 3 - 5.87338670 * x ** 2 + 3.75112997 * x - 0.37001483))
    return x, y


def _uv(x, y):
    d = -2 * x + 12 * y + 3
    return 4 * x / d, 6 * y / d


_LOCUS_T = np.geomspace(1667.0, 25000.0, 600)
_LOCUS_UV = np.stack(_uv(*_planck_xy(_LOCUS_T)), axis=1)


def chromaticity_duv(linear_rgb) -> float:
    """Signed distance (CIE 1960 uv) of a colour from the Planckian locus (+ above/green)."""
    u, v = _uv(*_xy(linear_rgb))
    d = _LOCUS_UV - np.array([u, v])
    i = int(np.argmin(np.hypot(d[:, 0], d[:, 1])))
    dist = float(np.hypot(*d[i]))
    return dist if v > _LOCUS_UV[i, 1] else -dist


def mccamy_cct(linear_rgb: np.ndarray) -> float:
    """Correlated colour temperature in kelvin of a linear-sRGB colour.

    McCamy's (1992) cubic in the chromaticity; colours far off the Planckian locus (neon
    magenta, green), where the cubic is meaningless, fall back to the nearest locus point.
    """
    x, y = _xy(linear_rgb)
    u, v = _uv(x, y)
    d = _LOCUS_UV - np.array([u, v])
    i = int(np.argmin(np.hypot(d[:, 0], d[:, 1])))
    nearest = float(_LOCUS_T[i])
    if abs(0.1858 - y) < 1e-6 or float(np.hypot(*d[i])) > 0.02:
        return float(np.clip(nearest, 1000.0, 25000.0))
    n = (x - 0.3320) / (0.1858 - y)
    cct = 449.0 * n ** 3 + 3525.0 * n ** 2 + 6823.3 * n + 5520.33
    return float(np.clip(cct, 1000.0, 25000.0))


def _unit_colour(lin: np.ndarray) -> tuple[int, int, int]:
    lin = np.maximum(np.asarray(lin, dtype=np.float64), 1e-6)
    lin = lin / lin.max()
    srgb = linear_to_srgb(lin)
    return tuple(int(round(float(v) * 255)) for v in srgb)


# ---------------------------------------------------------------------------- horizon

def _line_segments(gray: np.ndarray) -> np.ndarray:
    """Hough segments (N, 4) x0 y0 x1 y1 of the edges of a uint8 grey image."""
    med = float(np.median(gray))
    lo, hi = max(10.0, 0.66 * med), max(30.0, min(255.0, 1.33 * med + 40))
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), lo, hi)
    diag = math.hypot(*gray.shape[:2])
    segs = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=30,
                           minLineLength=max(12, int(0.05 * diag)), maxLineGap=4)
    if segs is None:
        return np.zeros((0, 4), np.float64)
    return segs.reshape(-1, 4).astype(np.float64)


def _vanishing_point(segs: np.ndarray, w: int, h: int) -> tuple[np.ndarray | None, float]:
    """Most supported intersection of the oblique segments, with support in 0..1."""
    if len(segs) < 4:
        return None, 0.0
    d = segs[:, 2:] - segs[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    ang = np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0])))
    keep = (ang > 8) & (ang < 80)
    if keep.sum() < 4:
        return None, 0.0
    s, d, length = segs[keep], d[keep], length[keep]
    order = np.argsort(-length)[:120]
    s, d, length = s[order], d[order], length[order]
    # homogeneous lines and all pairwise intersections
    p0 = np.c_[s[:, :2], np.ones(len(s))]
    p1 = np.c_[s[:, 2:], np.ones(len(s))]
    lines = np.cross(p0, p1)
    i, j = np.triu_indices(len(s), 1)
    pts = np.cross(lines[i], lines[j])
    ok = np.abs(pts[:, 2]) > 1e-9
    pts = pts[ok, :2] / pts[ok, 2:3]
    pw = (length[i] * length[j])[ok]
    inside = ((pts[:, 0] > -0.25 * w) & (pts[:, 0] < 1.25 * w) & (pts[:, 1] > -0.25 * h)
              & (pts[:, 1] < 1.25 * h))
    pts, pw = pts[inside], pw[inside]
    if len(pts) == 0:
        return None, 0.0
    cand = pts[np.argsort(-pw)[:400]]
    # support: total length of segments pointing at the candidate (within 2 degrees)
    mid = (s[:, :2] + s[:, 2:]) / 2
    u = d / length[:, None]
    to = cand[:, None, :] - mid[None, :, :]
    dist = np.hypot(to[..., 0], to[..., 1]) + 1e-9
    cos = np.abs((to[..., 0] * u[None, :, 0] + to[..., 1] * u[None, :, 1]) / dist)
    # segments must not straddle the point (a vanishing point lies beyond the segment)
    beyond = dist > length[None, :] * 0.5
    support = ((cos > math.cos(math.radians(2.0))) & beyond) * length[None, :]
    score = support.sum(axis=1)
    best = int(np.argmax(score))
    # how many distinct directions agree: a real vanishing point gathers lines from both sides
    agree = support[best] > 0
    sides = np.sign(mid[agree, 0] - cand[best, 0])
    two_sided = 1.0 if (np.any(sides > 0) and np.any(sides < 0)) else 0.6
    frac = float(score[best] / length.sum()) * two_sided
    return cand[best], frac


def estimate_horizon(rgb: np.ndarray) -> HorizonEstimate:
    """Horizon row from the vanishing point of oblique lines, else the strongest long
    horizontal structure (ground line / sky boundary), else the middle of the frame."""
    small = _small(rgb, 640)
    h, w = small.shape[:2]
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    segs = _line_segments(gray)
    vp, frac = _vanishing_point(segs, w, h)
    if vp is not None and frac >= 0.22:
        conf = float(np.clip((frac - 0.15) / 0.35, 0.3, 1.0))
        return HorizonEstimate(row=float(vp[1] / h), vanishing_point=(float(vp[0] / w),
                               float(vp[1] / h)), confidence=conf, method="vanishing")
    # strongest horizontal structure: long near-horizontal segments and row-wise vertical
    # gradient that spans the width
    gy = np.abs(cv2.Sobel(cv2.GaussianBlur(gray, (0, 0), 2.0).astype(np.float32), cv2.CV_32F,
                          0, 1, ksize=3))
    # count a row only where the gradient is consistent across the width (not single objects)
    cols = np.array_split(np.arange(w), 8)
    band = np.stack([gy[:, c].mean(axis=1) for c in cols], axis=1)
    row_score = np.median(band, axis=1)
    if len(segs):
        d = segs[:, 2:] - segs[:, :2]
        ang = np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0])))
        hs = segs[ang < 4]
        for x0, y0, x1, y1 in hs:
            r = int(round((y0 + y1) / 2))
            if 0 <= r < h:
                row_score[r] += abs(x1 - x0) / w * row_score.max() * 0.5
    row_score = cv2.GaussianBlur(row_score.reshape(-1, 1).astype(np.float32), (1, 0),
                                 sigmaX=0, sigmaY=max(1.0, h / 120)).ravel()
    margin = max(2, h // 20)
    core = row_score[margin:h - margin]
    if core.size and core.max() > 0:
        r = int(np.argmax(core)) + margin
        peak = float(core.max() / (np.median(core) + 1e-6))
        if peak > 2.5:
            return HorizonEstimate(row=r / h, vanishing_point=None,
                                   confidence=float(np.clip((peak - 2.5) / 6, 0.2, 0.8)),
                                   method="horizontal")
    return HorizonEstimate(row=0.5, vanishing_point=None, confidence=0.0, method="default")


# ---------------------------------------------------------------------------- light

def _light(small: np.ndarray, lin: np.ndarray, Y: np.ndarray) -> tuple[LightEstimate, float]:
    h, w = Y.shape
    Yb = cv2.GaussianBlur(Y, (0, 0), max(1.0, max(h, w) / 100))
    thr = float(np.percentile(Yb, 96))
    bright = Yb >= thr
    ys, xs = np.nonzero(bright)
    wts = Yb[bright]
    cx = float((xs * wts).sum() / wts.sum())
    cy = float((ys * wts).sum() / wts.sum())
    v1 = np.array([(cx - w / 2) / (w / 2), (cy - h / 2) / (h / 2)])
    # large-scale luminance gradient (towards brighter)
    Yl = cv2.GaussianBlur(np.log(Y + 0.01), (0, 0), max(h, w) / 10)
    gx = cv2.Sobel(Yl, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(Yl, cv2.CV_32F, 0, 1, ksize=3)
    g = np.array([float(gx.mean()), float(gy.mean())]) * max(h, w) / 8
    v = 0.6 * v1 + 0.4 * g
    mag = float(np.hypot(*v))
    strength = float(np.clip(mag / 0.6, 0.0, 1.0))
    if mag < 1e-6:
        unit = (0.0, -1.0)
    else:
        unit = (float(v[0] / mag), float(v[1] / mag))
    az = math.degrees(math.atan2(-unit[1], unit[0]))
    if strength < 0.2:
        label = "front"
    elif 45 <= az <= 135:
        label = "top"
    elif -45 < az < 45:
        label = "right"
    elif az > 135 or az < -135:
        label = "left"
    else:
        label = "front"  # from below: ground bounce / fill, treat as frontal
    # light colour: the lit surfaces (luminance between the median and the 90th percentile,
    # no clipped pixels) tell the colour of the light falling on the scene better than the
    # sources themselves, which are often clipped or a window of a different light
    Yf = Y.ravel()
    linf = lin.reshape(-1, 3)
    lo, hi = np.percentile(Yf, [50, 90])
    sel = (Yf >= lo) & (Yf <= hi) & (linf.max(axis=1) < 0.98)
    if sel.sum() < 20:
        sel = Yf >= lo
    lc = linf[sel].mean(axis=0)
    src = bright.ravel() & (linf.max(axis=1) < 0.98)
    if src.sum() < 20:
        src = bright.ravel()
    sc = linf[src].mean(axis=0)
    # hardness: dynamic range of highlights vs shadows and how abrupt the transitions are
    y5, y50, y97 = np.percentile(Y, [5, 50, 97])
    stops = math.log2((y97 + 0.005) / (y5 + 0.005))
    edge = np.hypot(cv2.Sobel(np.log(Y + 0.01), cv2.CV_32F, 1, 0),
                    cv2.Sobel(np.log(Y + 0.01), cv2.CV_32F, 0, 1))
    abrupt = float(np.percentile(edge, 99) / (np.percentile(edge, 50) + 0.05))
    hardness = float(np.clip(0.65 * (stops - 2.0) / 6.0 + 0.35 * (abrupt - 3.0) / 30.0, 0, 1))
    return LightEstimate(azimuth_deg=round(az, 2), vector=(round(unit[0], 4), round(unit[1], 4)),
                         strength=round(strength, 3), label=label,
                         colour_rgb=_unit_colour(lc),
                         colour_temperature_k=round(mccamy_cct(lc), 1),
                         source_rgb=_unit_colour(sc),
                         source_temperature_k=round(mccamy_cct(sc), 1),
                         hardness=round(hardness, 3)), float(y50)


def _focal_points(small: np.ndarray, k: int = 3) -> list[FocalPoint]:
    h, w = small.shape[:2]
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    sal = np.zeros((h, w), np.float32)
    for sigma_c, sigma_s in ((2, 16), (4, 32)):
        c = cv2.GaussianBlur(lab, (0, 0), sigma_c)
        s = cv2.GaussianBlur(lab, (0, 0), sigma_s)
        sal += np.linalg.norm(c - s, axis=2)
    # bright light sources draw the eye too
    L = lab[..., 0]
    sal += 0.5 * np.maximum(cv2.GaussianBlur(L, (0, 0), 4) - np.percentile(L, 90), 0)
    sal = cv2.GaussianBlur(sal, (0, 0), max(h, w) / 40)
    # mild centre bias
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sal *= 1.0 - 0.35 * (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2) / 2
    top = float(sal.max()) + 1e-6
    pts: list[FocalPoint] = []
    work = sal.copy()
    rad = int(max(h, w) * 0.15)
    for _ in range(k):
        y, x = np.unravel_index(int(np.argmax(work)), work.shape)
        val = float(work[y, x])
        if val <= 0.25 * top:
            break
        pts.append(FocalPoint(x=round(x / w, 4), y=round(y / h, 4), weight=round(val / top, 3)))
        cv2.circle(work, (int(x), int(y)), rad, 0.0, -1)
    return pts


def _mood(brightness: float, saturation: float, warmth: float, mix: bool) -> str:
    light = "dim" if brightness < 0.28 else ("soft" if brightness < 0.5 else "bright")
    if mix:
        tone = "mixed neon"
    else:
        tone = "warm" if warmth > 0.2 else ("cool" if warmth < -0.2 else "neutral")
    if light == "dim":
        feel = ("electric" if mix else "intimate" if warmth > 0.2 else
                "moody" if warmth < -0.2 else "quiet")
    elif light == "soft":
        feel = ("vibrant" if mix else "cosy" if warmth > 0.2 else "calm" if warmth < -0.2
                else "relaxed")
    else:
        feel = ("lively" if mix or saturation > 0.45 else "cheerful" if warmth > 0.2 else
                "crisp" if warmth < -0.2 else "airy")
    return f"{light}, {tone}, {feel}"


def analyze_scene(rgb: np.ndarray) -> SceneAnalysis:
    """Light, mood, framing and focal points of a scene photo (RGB uint8)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected an RGB image, got shape {rgb.shape}")
    H, W = rgb.shape[:2]
    small = _small(rgb)
    lin = srgb_to_linear(small)
    Y = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    light, _ = _light(small, lin, Y)
    luma = small.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32) / 255.0
    brightness = float(luma.mean())
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)
    sat = hsv[..., 1] / 255.0
    val = hsv[..., 2] / 255.0
    saturation = float((sat * val).sum() / (val.sum() + 1e-6))
    warmth = float(np.clip(math.log2(5000.0 / light.colour_temperature_k) / 0.8, -1.0, 1.0))
    # colour mix: bright saturated pixels falling in clearly different hue families
    vivid = (sat > 0.5) & (val > 0.6)
    mix = False
    if vivid.mean() > 0.05:
        hue = hsv[..., 0][vivid] * 2.0  # degrees
        hist, _ = np.histogram(hue, bins=12, range=(0, 360))
        share = hist / hist.sum()
        fams = np.nonzero(share > 0.12)[0]
        if len(fams) >= 2:
            spread = max(min(abs(a - b), 12 - abs(a - b)) for a in fams for b in fams)
            mix = spread >= 3  # at least 90 degrees apart
    mood = _mood(brightness, saturation, warmth, mix)
    hz = estimate_horizon(rgb)
    angle = "high" if hz.row < 0.36 else ("low" if hz.row > 0.68 else "eye level")
    # shot size: converging lines or a visible horizon with fine detail read as wide;
    # large smooth/defocused areas read as close
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(cv2.GaussianBlur(gray, (3, 3), 0), cv2.CV_32F))
    sharp_share = float((cv2.blur(lap, (15, 15)) > 4.0).mean())
    if hz.method == "vanishing" or (hz.method == "horizontal" and sharp_share > 0.25):
        shot = "wide"
    elif sharp_share < 0.2:
        shot = "close"
    else:
        shot = "medium"
    framing = Framing(shot=shot, angle=angle, horizon=round(hz.row, 4),
                      vanishing_point=(None if hz.vanishing_point is None else
                                       (round(hz.vanishing_point[0], 4),
                                        round(hz.vanishing_point[1], 4))),
                      horizon_confidence=round(hz.confidence, 3))
    return SceneAnalysis(width=W, height=H, light=light, mean_brightness=round(brightness, 4),
                         saturation=round(saturation, 4), warmth=round(warmth, 3),
                         colour_mix=bool(mix),
                         mood=mood, framing=framing, focal_points=_focal_points(small))
