"""Person matte and a decontaminated cut-out.

`person_matte` starts from mediapipe's (low resolution) selfie mask, turns it into a trimap
(sure person / sure background / a band of unknown around the outline), lets grabCut decide
the band from the photo's colours, and then pulls soft, halo-free edges out of the photo with
a guided filter (hair and shoulders keep their fine transitions). `cutout` estimates the
foreground colour in the soft edge so the old background (grey studio) does not bleed into
the new scene as a light rim.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidpipe.render.embedded.landmarks import selfie_mask

_GC_SIDE = 360  # grabCut runs at this longer side; the guided filter at full resolution


def _largest_components(mask: np.ndarray, keep_ratio: float = 0.08) -> np.ndarray:
    """Keep the biggest connected blob and any other blob at least keep_ratio its size."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if n <= 2:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = areas.max()
    keep = 1 + np.nonzero(areas >= keep_ratio * big)[0]
    return np.isin(labels, keep)


def person_matte(rgb: np.ndarray, *, seed: int = 0, prior: np.ndarray | None = None) -> np.ndarray:
    """Soft alpha (float32 H x W in [0, 1]) of the person in an RGB photo.

    `prior` may pass an already computed selfie mask (H x W float) to save a model run.
    """
    rgb = np.ascontiguousarray(rgb[..., :3])
    H, W = rgb.shape[:2]
    soft = selfie_mask(rgb) if prior is None else prior.astype(np.float32)
    if soft.shape != (H, W):
        soft = cv2.resize(soft, (W, H), interpolation=cv2.INTER_LINEAR)
    s = min(1.0, _GC_SIDE / max(H, W))
    sw, sh = max(1, round(W * s)), max(1, round(H * s))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    psmall = cv2.resize(soft, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1 else soft
    fg = psmall > 0.5
    if fg.sum() < 16:
        return np.zeros((H, W), np.float32)
    fg = _largest_components(fg)
    band = max(3, int(round(0.025 * max(sh, sw))))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    sure_fg = cv2.erode(fg.astype(np.uint8), k) > 0
    sure_fg &= psmall > 0.9
    sure_bg = cv2.dilate(fg.astype(np.uint8), k) == 0
    sure_bg |= psmall < 0.02
    sure_bg &= ~sure_fg
    gc = np.where(fg, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    gc[sure_bg] = cv2.GC_BGD
    gc[sure_fg] = cv2.GC_FGD
    hard = fg.astype(np.float32)
    if (gc == cv2.GC_BGD).any() and (gc == cv2.GC_FGD).any():
        # only the region around the person matters: crop to it (plus sure background)
        ys, xs = np.nonzero(gc != cv2.GC_BGD)
        m = 2 * band
        y0, y1 = max(0, ys.min() - m), min(sh, ys.max() + m + 1)
        x0, x1 = max(0, xs.min() - m), min(sw, xs.max() + m + 1)
        sub = np.ascontiguousarray(gc[y0:y1, x0:x1])
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(int(seed))
        try:
            cv2.grabCut(cv2.cvtColor(np.ascontiguousarray(small[y0:y1, x0:x1]),
                                     cv2.COLOR_RGB2BGR), sub, None, bgd, fgd, 2,
                        cv2.GC_INIT_WITH_MASK)
            hard = np.zeros((sh, sw), np.float32)
            hard[y0:y1, x0:x1] = np.isin(sub, (cv2.GC_FGD, cv2.GC_PR_FGD))
        except cv2.error:
            pass
    hard = _largest_components(hard > 0.5).astype(np.float32)
    # blend the grabCut decision with the network's soft mask inside the band
    mix = 0.7 * hard + 0.3 * np.clip((psmall - 0.5) * 2.5 + 0.5, 0, 1)
    mix = cv2.resize(mix, (W, H), interpolation=cv2.INTER_LINEAR) if s < 1 else mix
    guide = rgb.astype(np.float32) / 255.0
    r = max(2, int(round(max(H, W) / 160)))
    alpha = cv2.ximgproc.guidedFilter(guide, mix.astype(np.float32), r, 1e-4)
    alpha = cv2.ximgproc.guidedFilter(guide, np.clip(alpha, 0, 1).astype(np.float32), r, 1e-5)
    # sharpen the transfer so the interior is solid and the outside clean
    alpha = np.clip((alpha - 0.5) * 1.25 + 0.5, 0, 1)
    # never extend far beyond where either model put the person
    reach = cv2.dilate((cv2.resize(hard, (W, H)) > 0.5).astype(np.uint8) if s < 1
                       else (hard > 0.5).astype(np.uint8),
                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    alpha *= reach.astype(np.float32)
    alpha = _colour_alpha(rgb, alpha, max(3, int(round(0.012 * max(H, W)))))
    alpha = cv2.ximgproc.guidedFilter(guide, alpha.astype(np.float32), 1, 1e-5)
    alpha = np.clip(alpha, 0, 1)
    alpha[alpha < 0.02] = 0.0
    alpha[alpha > 0.98] = 1.0
    return alpha.astype(np.float32)


def _fill(rgb: np.ndarray, weight: np.ndarray, sigmas=(1.5, 4.0, 12.0, 36.0),
          side: int = 256) -> np.ndarray:
    """Normalised-convolution fill: each pixel gets the weighted colour of its neighbours,
    widening the kernel until something is found. Runs at `side` pixels and is upsampled
    (the fill is smooth by construction)."""
    H, W = weight.shape
    s = min(1.0, side / max(H, W))
    if s < 1:
        sw, sh = max(1, round(W * s)), max(1, round(H * s))
        img = cv2.resize(rgb.astype(np.float32) * weight[..., None], (sw, sh),
                         interpolation=cv2.INTER_AREA)
        wt = cv2.resize(weight.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        img = img / np.maximum(wt[..., None], 1e-6)
    else:
        img, wt = rgb.astype(np.float32), weight.astype(np.float32)
    out = np.zeros_like(img)
    have = np.zeros(wt.shape, bool)
    for sg in sigmas:
        num = cv2.GaussianBlur(img * wt[..., None], (0, 0), sg)
        den = cv2.GaussianBlur(wt, (0, 0), sg)
        est = num / np.maximum(den[..., None], 1e-6)
        take = (den > 1e-3) & ~have
        out[take] = est[take]
        have |= take
    if not have.all():
        mean = (img * wt[..., None]).sum(axis=(0, 1)) / max(float(wt.sum()), 1e-6)
        out[~have] = mean
    if s < 1:
        out = cv2.resize(out, (W, H), interpolation=cv2.INTER_LINEAR)
    return out


def _colour_alpha(rgb: np.ndarray, alpha: np.ndarray, band: int) -> np.ndarray:
    """Refine alpha in a band around the outline from the local foreground/background
    colours: a = (I - B).(F - B) / |F - B|^2, trusted where F and B differ."""
    img = rgb.astype(np.float32)
    inside = alpha > 0.5
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    sure_fg = cv2.erode(inside.astype(np.uint8), k) > 0
    sure_bg = cv2.dilate(inside.astype(np.uint8), k) == 0
    if sure_fg.sum() < 16 or sure_bg.sum() < 16:
        return alpha
    unknown = ~sure_fg & ~sure_bg
    F = _fill(img, sure_fg.astype(np.float32))
    B = _fill(img, sure_bg.astype(np.float32))
    d = F - B
    den = (d * d).sum(axis=2)
    proj = np.clip(((img - B) * d).sum(axis=2) / np.maximum(den, 1.0), 0, 1)
    conf = np.clip((np.sqrt(den) - 12.0) / 40.0, 0, 1)
    refined = conf * proj + (1 - conf) * alpha
    out = alpha.copy()
    out[unknown] = refined[unknown]
    out[sure_bg] = 0.0
    out[sure_fg] = np.maximum(out[sure_fg], alpha[sure_fg])
    return out


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA uint8 of the person with the edge colours decontaminated.

    In the soft edge a pixel is I = a F + (1 - a) B. B is estimated from the nearby sure
    background, F is solved from it and clipped towards the nearby sure foreground colour;
    fully transparent pixels get the extended foreground colour too, so later resampling
    does not drag the old background in.
    """
    rgb = np.ascontiguousarray(rgb[..., :3])
    a = np.clip(alpha.astype(np.float32), 0, 1)
    img = rgb.astype(np.float32)
    bgw = (a < 0.02).astype(np.float32)
    fgw = (a > 0.97).astype(np.float32)
    if fgw.sum() < 1:
        fgw = (a > 0.5).astype(np.float32)
    B = _fill(img, bgw) if bgw.sum() > 0 else np.zeros_like(img)
    Fn = _fill(img, fgw) if fgw.sum() > 0 else img.copy()
    a3 = a[..., None]
    solved = (img - (1.0 - a3) * B) / np.maximum(a3, 0.05)
    solved = np.clip(solved, 0, 255)
    # trust the solve where alpha is large, fall back to the neighbouring foreground colour
    t = np.clip((a3 - 0.05) / 0.6, 0, 1)
    F = t * solved + (1 - t) * Fn
    # keep the pixel's own brightness detail where solved is unreliable: limit how far F
    # may stray from the local foreground colour
    F = np.where(a3 >= 0.97, img, F)
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.clip(F + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out
