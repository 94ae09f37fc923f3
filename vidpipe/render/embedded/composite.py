"""Put the matted, dressed person into the scene: framing, relighting and shadow.

The result is a `CompositeLayers` (scene background, person RGBA and shadow opacity in frame
coordinates, plus the person's anchor and scale) that the motion stage re-composes for every
frame. Placement rules:

- the scene is fitted to the frame by a cover crop that keeps the horizon and the ground;
- an upper-body photo (no ankles) is framed as a medium shot: cut by the frame bottom, the
  head top near 36 % of the frame height, so the body fills about 64 % of it;
- a full-body photo stands with its feet on the ground band, its height given by the
  perspective of that ground row (people's heads sit near the horizon at eye level) and the
  scene's depth there;
- the person stands on a thirds line, on the side away from the scene's main focal point,
  with a small deterministic offset from the seed.

Relighting: a partial Reinhard transfer in Lab towards the scene (skin keeps most of its
own chroma), a tint by the scene's light colour, a directional gradient from the light's
side, and a light wrap of the background into the outline. The shadow falls on the side
opposite the light.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidpipe.analysis.scene import SceneAnalysis, srgb_to_linear
from vidpipe.render.embedded import landmarks as lm
from vidpipe.render.embedded.depth import DepthEstimate
from vidpipe.render.embedded.layers import CompositeLayers, compose_layers

MEDIUM_HEAD_TOP = 0.36  # head top of an upper-body person, fraction of the frame height
FULL_BODY_HEIGHT = (0.5, 0.68)  # full-body person height range, fraction of the frame height
REINHARD_STRENGTH = 0.45


@dataclass
class _PersonInfo:
    top: float  # head top row (alpha)
    bottom: float  # lowest alpha row
    left: float
    right: float
    full_body: bool
    feet: np.ndarray | None  # (x, y) midpoint under the ankles
    hips: np.ndarray | None
    shoulders: np.ndarray | None  # midpoint
    shoulder_width: float
    centre_x: float  # body axis x


def _analyse_person(rgba: np.ndarray) -> _PersonInfo:
    h, w = rgba.shape[:2]
    a = rgba[..., 3].astype(np.float32) / 255.0
    ys, xs = np.nonzero(a > 0.5)
    if len(ys) == 0:
        raise ValueError("the person cut-out is empty")
    top, bottom = float(ys.min()), float(ys.max())
    left, right = float(xs.min()), float(xs.max())
    flat = (rgba[..., :3].astype(np.float32) * a[..., None]
            + 128.0 * (1 - a[..., None])).astype(np.uint8)
    pose = lm.detect_pose(flat)
    touches_bottom = bottom >= h - 1 - 0.01 * h
    feet = hips = shoulders = None
    sw = 0.25 * (right - left)
    centre_x = float(np.median(xs))
    full = False
    if pose is not None:
        P, v = pose.points, pose.visibility
        if v[lm.L_SHOULDER] > 0.5 and v[lm.R_SHOULDER] > 0.5:
            shoulders = (P[lm.L_SHOULDER] + P[lm.R_SHOULDER]) / 2
            sw = float(np.hypot(*(P[lm.L_SHOULDER] - P[lm.R_SHOULDER])))
            centre_x = float(shoulders[0])
        if (v[lm.L_HIP] > 0.5 and v[lm.R_HIP] > 0.5 and P[lm.L_HIP][1] < h
                and P[lm.R_HIP][1] < h):
            hips = (P[lm.L_HIP] + P[lm.R_HIP]) / 2
        ankles_in = all(v[i] > 0.5 and 0 <= P[i][1] < h for i in (lm.L_ANKLE, lm.R_ANKLE))
        if ankles_in and not touches_bottom:
            full = True
            feet = np.array([(P[lm.L_ANKLE][0] + P[lm.R_ANKLE][0]) / 2, bottom])
    elif not touches_bottom and (bottom - top) > 2.5 * (right - left):
        full = True  # a tall, free-standing silhouette with no pose: assume full body
        feet = np.array([centre_x, bottom])
    return _PersonInfo(top=top, bottom=bottom, left=left, right=right, full_body=full,
                       feet=None if feet is None else np.asarray(feet, np.float64),
                       hips=None if hips is None else np.asarray(hips, np.float64),
                       shoulders=None if shoulders is None else np.asarray(shoulders, np.float64),
                       shoulder_width=sw, centre_x=centre_x)


def complete_head(rgba: np.ndarray) -> tuple[np.ndarray, int]:
    """Studio photos often crop the top of the hair. A head cut flat by the photo's top
    edge would show as a flat line in the frame, so a rounded cap is added above it (the
    head outline continued as an ellipse, filled with the mirrored hair). Returns the padded
    cut-out and the number of rows added on top (0 when the head is not cut)."""
    h, w = rgba.shape[:2]
    a = rgba[..., 3].astype(np.float32) / 255.0
    row0 = np.nonzero(a[0] > 0.5)[0]
    if row0.size == 0:
        return rgba, 0
    x_l, x_r = float(row0.min()), float(row0.max())
    w0 = (x_r - x_l + 1) / 2
    if w0 > 0.35 * w:
        return rgba, 0  # not a head (something wide runs off the top)
    xc = (x_l + x_r) / 2
    # the head's half-width: widest alpha run around xc within the next rows
    look = max(4, int(3 * w0))
    half = w0
    for y in range(1, min(h, look)):
        run = np.nonzero(a[y] > 0.5)[0]
        run = run[np.abs(run - xc) < 2.5 * w0]
        if run.size:
            half = max(half, (run.max() - run.min() + 1) / 2)
    b = 1.15 * half
    yc = b * np.sqrt(max(0.0, 1 - (w0 / half) ** 2))
    pad = int(np.ceil(b - yc)) + 2
    if pad <= 2:
        return rgba, 0
    out = np.zeros((h + pad, w, 4), np.uint8)
    out[pad:] = rgba
    # mirrored hair above the cut
    m = min(pad, h)
    out[:pad][pad - m:, :, :3] = rgba[:m][::-1, :, :3]
    yy, xx = np.mgrid[0:pad, 0:w].astype(np.float32)
    yrel = yy - pad - yc  # rows relative to the ellipse centre, yc below the cut
    r = np.sqrt(((xx - xc) / half) ** 2 + (yrel / b) ** 2)
    cap = np.clip((1.0 - r) * half / 1.5 + 0.5, 0, 1)
    out[:pad, :, 3] = np.clip(cap * 255 + 0.5, 0, 255).astype(np.uint8)
    return out, pad


def fit_scene(scene_rgb: np.ndarray, depth: DepthEstimate, frame_size: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray, float, tuple[float, float], float, float]:
    """Cover-crop the scene to the frame keeping the ground.

    Returns (background, depth in frame, horizon row in frame, ground rows in frame, scale,
    crop x offset in scaled pixels)."""
    W, H = frame_size
    sh, sw = scene_rgb.shape[:2]
    k = max(W / sw, H / sh)
    nw, nh = max(W, int(np.ceil(sw * k))), max(H, int(np.ceil(sh * k)))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    big = cv2.resize(np.ascontiguousarray(scene_rgb[..., :3]), (nw, nh), interpolation=interp)
    dep = cv2.resize(depth.depth.astype(np.float32), (nw, nh), interpolation=cv2.INTER_LINEAR)
    hz = depth.horizon_row * nh / sh
    g_top = depth.ground_rows[0] * nh / sh
    # horizon a little above the middle, but never lose the ground band
    y0 = hz - 0.5 * H
    y0 = max(y0, min(g_top, nh) + 0.3 * H - H)  # at least 30 % of the frame is ground
    y0 = int(round(np.clip(y0, 0, nh - H)))
    x0 = int(round((nw - W) / 2))
    bg = np.ascontiguousarray(big[y0:y0 + H, x0:x0 + W])
    dframe = np.ascontiguousarray(dep[y0:y0 + H, x0:x0 + W])
    ground = (float(np.clip(g_top - y0, 0, H - 1)), float(H - 1))
    return bg, dframe, float(hz - y0), ground, float(k), float(x0)


def _resize_rgba(rgba: np.ndarray, s: float) -> np.ndarray:
    """Premultiplied resize so transparent pixels never bleed colour into the edge."""
    h, w = rgba.shape[:2]
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    pm = np.concatenate([rgba[..., :3].astype(np.float32) * a, a * 255.0], axis=2)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    r = cv2.resize(pm, (nw, nh), interpolation=interp)
    ra = np.clip(r[..., 3:4] / 255.0, 0, 1)
    rgb = r[..., :3] / np.maximum(ra, 1e-4)
    return np.concatenate([np.clip(rgb, 0, 255), ra * 255.0], axis=2)


def _paste(canvas_size: tuple[int, int], layer: np.ndarray, x0: int, y0: int) -> np.ndarray:
    W, H = canvas_size
    out = np.zeros((H, W, layer.shape[2]), np.float32)
    h, w = layer.shape[:2]
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(W, x0 + w), min(H, y0 + h)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0:cy1, cx0:cx1] = layer[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return out


def _lab_stats(lab: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ws = float(w.sum()) + 1e-6
    mu = (lab * w[..., None]).sum(axis=(0, 1)) / ws
    sd = np.sqrt(((lab - mu) ** 2 * w[..., None]).sum(axis=(0, 1)) / ws) + 1e-3
    return mu, sd


def _relight(rgb: np.ndarray, alpha: np.ndarray, bg: np.ndarray, scene: SceneAnalysis,
             skin: np.ndarray) -> np.ndarray:
    """Person colours (float 0..255) partially matched to the scene and lit from its side."""
    H, W = alpha.shape
    u8 = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(u8.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    blab = cv2.cvtColor(bg.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    wp = (alpha > 0.5).astype(np.float32)
    mu_p, sd_p = _lab_stats(lab, wp)
    mu_s, sd_s = _lab_stats(blab, np.ones((H, W), np.float32))
    st = REINHARD_STRENGTH
    ratio = np.clip((sd_s / sd_p) ** (st * 0.75), 0.75, 1.25)
    out = (lab - mu_p) * ratio + mu_p
    shift = st * (mu_s - mu_p)
    shift[0] = np.clip(shift[0], -30.0, 12.0)  # never blow the person out or crush them
    shift[1:] = np.clip(shift[1:] * 0.75, -10.0, 10.0)
    skin_w = skin[..., None]
    chroma_scale = np.array([1.0, 0.45, 0.45], np.float32)  # skin keeps most of its hue
    out = out + shift * (1 - skin_w) + shift * chroma_scale * skin_w
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    res = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    lin = np.clip(res, 0, 1) ** 2.2
    # tint by the light colour (normalised to unit luminance) and a directional gradient
    lc = srgb_to_linear(np.array(scene.light.colour_rgb, np.uint8).reshape(1, 1, 3)).reshape(3)
    lum = float(lc @ np.array([0.2126, 0.7152, 0.0722]))
    tint = np.clip(lc / max(lum, 1e-3), 0.4, 2.5) ** 0.22
    tint /= float(tint @ np.array([0.2126, 0.7152, 0.0722]))
    lin = lin * tint
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys):
        cx, cy = xs.mean(), ys.mean()
        span = 0.5 * np.hypot(xs.max() - xs.min(), ys.max() - ys.min()) + 1e-6
        vx, vy = scene.light.vector
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        g = np.clip(((xx - cx) * vx + (yy - cy) * vy) / span, -1, 1)
        amp = float(np.clip(0.35 * scene.light.strength * (0.4 + scene.light.hardness), 0, 0.3))
        lin = lin * (1.0 + amp * g)[..., None]
    return np.clip(np.clip(lin, 0, 1) ** (1 / 2.2) * 255.0, 0, 255)


def _skin_weight(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Soft skin likelihood (YCrCb box), so relighting leaves skin hue mostly alone."""
    ycc = cv2.cvtColor(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1].astype(np.float32), ycc[..., 2].astype(np.float32)
    s = np.clip(1 - np.maximum(np.abs(cr - 150) / 22, np.abs(cb - 112) / 20), 0, 1)
    return cv2.GaussianBlur(s * (alpha > 0.3), (0, 0), 1.5)


def build_composite(person_rgba: np.ndarray, scene_rgb: np.ndarray, depth: DepthEstimate,
                    scene: SceneAnalysis, frame_size: tuple[int, int], *,
                    seed: int) -> CompositeLayers:
    """Layers of the person standing in the scene at frame_size = (width, height)."""
    W, H = int(frame_size[0]), int(frame_size[1])
    if person_rgba.ndim != 3 or person_rgba.shape[2] != 4:
        raise ValueError("person_rgba must be H x W x 4")
    bg, dframe, horizon, ground, k_scene, crop_x = fit_scene(scene_rgb, depth, (W, H))
    person_rgba, _ = complete_head(person_rgba)
    info = _analyse_person(person_rgba)
    rng = np.random.default_rng(seed)

    # --- scale and vertical placement
    if info.full_body and info.feet is not None:
        span = max(info.feet[1] - info.top, 1.0)
        lo, hi = ground
        want_h = float(np.mean(FULL_BODY_HEIGHT)) * H
        # eye-level perspective: a standing person's height ~ 1.05 x (feet row - horizon)
        y_feet = horizon + want_h / 1.05
        y_feet = float(np.clip(y_feet, lo + 0.15 * (hi - lo), 0.9 * H))
        if 0.05 * H <= horizon <= 0.8 * H:
            height = 1.05 * (y_feet - horizon)
        else:
            # no usable horizon in frame: the depth of the ground row says how near it is
            near = float(dframe[int(np.clip(y_feet, 0, H - 1)), W // 2])
            height = (0.45 + 0.3 * near) * H
        height = float(np.clip(height, FULL_BODY_HEIGHT[0] * H, FULL_BODY_HEIGHT[1] * H))
        s = height / span
        base_src = info.feet
        base_dst_y = y_feet
    else:
        head = info.top
        if info.hips is not None:
            ref = info.hips[1] - head
        elif info.shoulders is not None:
            ref = info.shoulders[1] - head + 1.55 * info.shoulder_width
        else:
            ref = info.bottom - head
        s = (1.0 - MEDIUM_HEAD_TOP) * H / max(ref, 1.0)
        # the cut-out must reach the frame bottom (no floating torso)
        s = max(s, (1.0 - MEDIUM_HEAD_TOP) * H / max(info.bottom - head, 1.0))
        base_src = np.array([info.centre_x, head])
        base_dst_y = MEDIUM_HEAD_TOP * H
    # a full-body person stays well inside the frame; a medium shot may let the frame cut
    # the arms a little, but not more
    max_w = (0.75 if info.full_body else 1.0) * W
    s = float(min(s, max_w / max(info.right - info.left, 1.0)))
    if not info.full_body:
        # after any width limit the cut must still be at the frame bottom (no floating torso)
        base_dst_y = max(base_dst_y, H - (info.bottom - info.top) * s)

    # --- horizontal placement: thirds line away from the main focal point
    jitter = rng.uniform(-0.03, 0.03) * W
    coin = rng.random()
    half_w = 0.5 * (info.right - info.left) * s
    fx = None
    for fp in scene.focal_points:  # the strongest focal point that is inside the frame
        x = fp.x * scene.width * k_scene - crop_x
        if 0.05 * W <= x <= 0.95 * W:
            fx = x
            break
    if fx is not None:
        side = 1 if fx < W / 2 else -1
    else:
        side = 1 if coin < 0.5 else -1
    x_target = W / 2 + side * W / 6 + jitter
    if fx is not None and abs(x_target - fx) < half_w + 0.05 * W:
        x_target = fx + side * (half_w + 0.05 * W)
    x_target = float(np.clip(x_target, half_w * 0.8, W - half_w * 0.8))

    # --- scale the cut-out and paste it
    scaled = _resize_rgba(person_rgba, s)
    s_eff = scaled.shape[1] / person_rgba.shape[1]
    x0 = int(round(x_target - base_src[0] * s_eff))
    y0 = int(round(base_dst_y - base_src[1] * s_eff))
    layer = _paste((W, H), scaled, x0, y0)
    alpha = layer[..., 3] / 255.0
    rgb = layer[..., :3]
    skin = _skin_weight(rgb, alpha)
    lit = _relight(rgb, alpha, bg, scene, skin)
    # light wrap: a touch of the blurred scene on the outline
    bgb = cv2.GaussianBlur(bg.astype(np.float32), (0, 0), max(2.0, H / 120))
    inner = cv2.GaussianBlur(alpha, (0, 0), max(1.0, H / 240))
    wrap = (0.35 * np.clip(1.0 - inner, 0, 1) * (alpha > 0.01))[..., None]
    lit = lit * (1 - wrap) + bgb * wrap
    person = np.zeros((H, W, 4), np.uint8)
    person[..., :3] = np.clip(lit + 0.5, 0, 255).astype(np.uint8)
    person[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)

    # --- anchor and shadow
    if info.full_body and info.feet is not None:
        anchor = (x0 + info.feet[0] * s_eff, y0 + info.feet[1] * s_eff)
    else:
        ax = info.hips[0] if info.hips is not None else info.centre_x
        anchor = (x0 + ax * s_eff, float(H))
    shadow = _shadow(alpha, anchor, info.full_body, scene, dframe, (W, H))
    return CompositeLayers(background=bg, person=person, shadow=shadow,
                           anchor=(float(anchor[0]), float(anchor[1])), scale=float(s_eff))


def _shadow(alpha: np.ndarray, anchor: tuple[float, float], full_body: bool,
            scene: SceneAnalysis, dframe: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    W, H = size
    vx, vy = scene.light.vector
    hard = float(scene.light.hardness)
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys) == 0:
        return np.zeros((H, W), np.float32)
    ph = float(ys.max() - ys.min() + 1)
    pw = float(xs.max() - xs.min() + 1)
    ax, ay = anchor
    opacity = 0.45 + 0.4 * hard
    out = np.zeros((H, W), np.float32)
    if full_body:
        # cast shadow: the silhouette laid on the ground away from the light
        a = -vx * 0.8
        b = -vy * 0.45
        if abs(b) < 0.15:
            b = 0.15 if b >= 0 else -0.15
        M = np.float32([[1, -a, a * ay], [0, -b, ay + b * ay]])
        cast = cv2.warpAffine(alpha.astype(np.float32), M, (W, H), flags=cv2.INTER_LINEAR)
        sharp = cv2.GaussianBlur(cast, (0, 0), max(1.0, ph * (0.004 + 0.01 * (1 - hard))))
        soft = cv2.GaussianBlur(cast, (0, 0), max(2.0, ph * 0.04))
        dist = np.hypot(*np.mgrid[0:H, 0:W][::-1].astype(np.float32) - np.array(
            [ax, ay], np.float32)[:, None, None])
        t = np.clip(dist / (0.6 * ph), 0, 1)
        cast = (sharp * (1 - t) + soft * t) * (1 - 0.6 * t)
        out = np.maximum(out, cast * opacity)
        # contact shadow under the feet
        contact = np.zeros((H, W), np.float32)
        cv2.ellipse(contact, (int(round(ax)), int(round(ay))),
                    (max(2, int(0.3 * pw)), max(1, int(0.035 * ph))), 0, 0, 360, 1.0, -1)
        contact = cv2.GaussianBlur(contact, (0, 0), max(1.5, 0.02 * ph))
        out = np.maximum(out, contact * 0.8)
    else:
        # medium shot: a soft shadow on whatever is behind, offset away from the light,
        # weaker when the background is far; plus occlusion where the body leaves the frame
        behind = float(np.median(dframe[np.clip(ys, 0, H - 1), np.clip(xs, 0, W - 1)]))
        strength = opacity * (0.35 + 0.65 * behind)
        off = np.array([-vx, -vy]) * 0.08 * ph
        M = np.float32([[1, 0, off[0]], [0, 1, off[1]]])
        drop = cv2.warpAffine(alpha.astype(np.float32), M, (W, H), flags=cv2.INTER_LINEAR)
        drop = cv2.GaussianBlur(drop, (0, 0), max(2.0, ph * (0.03 + 0.04 * (1 - hard))))
        out = np.maximum(out, drop * strength)
        occ = np.zeros((H, W), np.float32)
        cv2.ellipse(occ, (int(round(ax - vx * 0.05 * pw)), H), (max(2, int(0.7 * pw)),
                    max(2, int(0.12 * ph))), 0, 0, 360, 1.0, -1)
        occ = cv2.GaussianBlur(occ, (0, 0), max(2.0, 0.06 * ph))
        out = np.maximum(out, occ * 0.5 * opacity)
    return np.clip(out, 0, 1).astype(np.float32)


def composite_image(layers: CompositeLayers) -> np.ndarray:
    """The still composite (the same blend the motion stage uses for every frame)."""
    return compose_layers(layers)
