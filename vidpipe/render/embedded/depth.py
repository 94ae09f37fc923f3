"""Classical monocular depth for a scene photo (no model).

Cues, in order of weight:
- a ground-plane / corridor prior from the horizon and the vanishing point (the floor comes
  nearer towards the bottom of the frame; walls of a street or room come nearer towards the
  sides; ceilings towards the top);
- "objects are as near as where they touch the ground": superpixels take the nearness of
  their lowest row, so chairs, poles and facades stand upright instead of sloping away;
- sky (smooth, blue or bright, connected to the top edge above the horizon) is farthest;
- a little texture-density cue (finely detailed regions are in focus, usually nearer);
then the map is smoothed edge-aware with a guided filter on the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidpipe.analysis.scene import estimate_horizon

_WORK_SIDE = 384


@dataclass
class DepthEstimate:
    depth: np.ndarray  # float32 H x W in [0, 1], 1 = near
    horizon_row: float  # row of the horizon in pixels of the scene photo (may lie outside)
    ground_rows: tuple[int, int]  # (top, bottom) rows of the visible floor/ground band

    def to_png(self) -> np.ndarray:
        """Grey uint8 rendering (near = white) for a human to look at."""
        return depth_to_grey(self.depth)


def depth_to_grey(depth: np.ndarray) -> np.ndarray:
    return np.clip(depth * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _sky_mask(small: np.ndarray, hrow: float) -> np.ndarray:
    h, w = small.shape[:2]
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    L, b = lab[..., 0], lab[..., 2] - 128.0
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    smooth = cv2.blur(grad, (7, 7)) < 12.0
    skyish = (b < -4) | (L > np.percentile(L, 70))
    cand = (smooth & skyish).astype(np.uint8)
    cand[int(np.clip(hrow, 0, h)):] = 0
    cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(cand, connectivity=4)
    top = set(np.unique(labels[0])) - {0}
    sky = np.isin(labels, list(top)) if top else np.zeros((h, w), bool)
    if sky.mean() < 0.02:
        return np.zeros((h, w), bool)
    return sky


def _prior(h: int, w: int, hrow: float, vp: tuple[float, float] | None,
           sky: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    hr = float(np.clip(hrow, -0.5 * h, h - 2))
    ground = np.clip((yy - hr) / max(h - hr, 1.0), 0.0, 1.0)
    near = ground
    if vp is not None and -0.25 * w <= vp[0] <= 1.25 * w:
        vx = float(vp[0])
        span = max(vx, w - vx, 1.0)
        walls = 0.85 * np.clip(np.abs(xx - vx) / span, 0, 1) ** 1.2
        ceiling = 0.7 * np.clip((hr - yy) / max(hr, 1.0), 0, 1)
        # facades/walls stand above the horizon; below it the floor prior rules
        box = np.maximum(walls, ceiling) * np.clip((hr - yy) / (0.05 * h) + 1.0, 0, 1)
        box[sky] = 0.0
        near = np.maximum(near, box)
    else:
        # open scene: things above the horizon are at or beyond the horizon distance
        above = yy < hr
        near = np.where(above, 0.05 * np.clip((hr - yy) / max(hr, 1.0), 0, 1), near)
    near[sky] = 0.0
    return near.astype(np.float32)


def _ground_contact(small: np.ndarray, prior: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Each superpixel takes the prior at its lowest rows (where it meets the ground)."""
    h, w = prior.shape
    size = max(8, int(round(max(h, w) / 24)))
    try:
        slic = cv2.ximgproc.createSuperpixelSLIC(cv2.cvtColor(small, cv2.COLOR_RGB2LAB),
                                                 cv2.ximgproc.SLICO, size, 10.0)
        slic.iterate(5)
        labels = slic.getLabels()
    except (AttributeError, cv2.error):
        return prior
    n = int(labels.max()) + 1
    yy = np.repeat(np.arange(h, dtype=np.int32)[:, None], w, axis=1)
    bottom = np.zeros(n, np.int32)
    np.maximum.at(bottom, labels.ravel(), yy.ravel())
    # prior at the segment's bottom row, centre column of the segment
    cnt = np.bincount(labels.ravel(), minlength=n).astype(np.float32)
    cx = np.bincount(labels.ravel(), weights=np.tile(np.arange(w), h), minlength=n) / np.maximum(cnt, 1)
    val = prior[np.clip(bottom, 0, h - 1), np.clip(cx.astype(np.int32), 0, w - 1)]
    seg = val[labels]
    seg[sky] = 0.0
    return seg.astype(np.float32)


def estimate_depth(scene_rgb: np.ndarray) -> DepthEstimate:
    """Relative depth (1 = near) of a scene photo, its horizon row and ground band."""
    if scene_rgb.ndim != 3 or scene_rgb.shape[2] < 3:
        raise ValueError(f"expected an RGB image, got shape {scene_rgb.shape}")
    H, W = scene_rgb.shape[:2]
    s = min(1.0, _WORK_SIDE / max(H, W))
    small = cv2.resize(np.ascontiguousarray(scene_rgb[..., :3]),
                       (max(1, round(W * s)), max(1, round(H * s))),
                       interpolation=cv2.INTER_AREA) if s < 1 else np.ascontiguousarray(scene_rgb[..., :3])
    h, w = small.shape[:2]
    hz = estimate_horizon(scene_rgb)
    hrow = hz.row * h
    vp = None if hz.vanishing_point is None else (hz.vanishing_point[0] * w, hz.vanishing_point[1] * h)
    sky = _sky_mask(small, hrow)
    prior = _prior(h, w, hrow, vp, sky)
    contact = _ground_contact(small, prior, sky)
    # texture density: finely detailed regions read as nearer (weak cue)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    tex = cv2.GaussianBlur(lap, (0, 0), max(h, w) / 40)
    tex = tex / (np.percentile(tex, 99) + 1e-6)
    tex = np.clip(tex, 0, 1)
    tex[sky] = 0
    depth = 0.4 * prior + 0.5 * contact + 0.10 * tex
    if sky.any():
        # whatever is not sky stands somewhere between us and the horizon
        depth = np.where(sky, 0.0, 0.15 + 0.85 * depth)
    depth = cv2.GaussianBlur(depth.astype(np.float32), (0, 0), max(1.0, max(h, w) / 300))
    guide = gray / 255.0
    depth = cv2.ximgproc.guidedFilter(guide.astype(np.float32), depth.astype(np.float32),
                                      max(2, int(max(h, w) / 60)), 2e-3)
    lo, hi = np.percentile(depth, [0.5, 99.5])
    depth = np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)
    depth = cv2.resize(depth, (W, H), interpolation=cv2.INTER_LINEAR)
    horizon_row = float(hz.row * H)
    top = int(np.clip(round(horizon_row + 0.02 * H), 0, H - 1))
    return DepthEstimate(depth=depth, horizon_row=horizon_row, ground_rows=(top, H - 1))
