"""Garment colour fidelity: CIEDE2000 between the garment photo and the worn garment.

The garment's pixels are segmented from the flat shot's light background with
`media.images.garment_mask` (eroded, so edges do not mix in the background). The worn
colour is the mean Lab over a torso region built from pose landmarks: the quad between the
shoulders and hips, inset from the sides and the neck/waist, minus capsules along the arms
and the face box, so skin and background stay out.

Comparing the garment's overall mean with the torso's mean is only fair for a garment of
one colour: a polo with a light-blue yoke and a navy body shows mostly navy on the torso,
and a faithful try-on then scores dE ~13-15. So the garment is summarised as a palette of
clearly different colours (k-means in Lab, clusters closer than `MERGE_DE` merged, so the
shades of one fabric stay one colour), and the torso's mean is compared with the palette
mean weighted by how many torso pixels show each palette colour. For a one-colour garment
this is exactly mean-vs-mean; a tint or brightness shift still moves the torso mean away
from the colours it is matched to.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidpipe.render.embedded import landmarks as lm

L_WRIST, R_WRIST = 15, 16
MIN_TORSO_PX = 50
PALETTE_K = 4
MERGE_DE = 35.0  # palette colours closer than this (CIEDE2000) are shades of one colour
MIN_SHARE = 0.05  # palette colours covering less of the garment are dropped (logos, seams)


@dataclass
class GarmentColours:
    """Palette of the garment (Lab, one row per colour) and each colour's share of it."""

    lab: np.ndarray  # (n, 3)
    share: np.ndarray  # (n,), sums to 1

    @property
    def mean(self) -> np.ndarray:
        return (self.lab * self.share[:, None]).sum(axis=0)


def _lab(rgb_pixels: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    px = rgb_pixels.reshape(-1, 1, 3).astype(np.float64) / 255.0
    return rgb2lab(px).reshape(-1, 3)


def palette(lab: np.ndarray, k: int = PALETTE_K, seed: int = 0) -> GarmentColours:
    """Clearly different colours among Lab pixels (deterministic)."""
    from skimage.color import deltaE_ciede2000

    lab = np.asarray(lab, np.float64).reshape(-1, 3)
    if lab.shape[0] > 20000:
        lab = lab[np.random.default_rng(seed).choice(lab.shape[0], 20000, replace=False)]
    k = max(1, min(k, lab.shape[0]))
    cv2.setRNGSeed(seed)
    _, labels, centres = cv2.kmeans(lab.astype(np.float32), k, None,
                                    (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.1),
                                    3, cv2.KMEANS_PP_CENTERS)
    groups = [lab[labels.ravel() == i] for i in range(k)]
    groups = [g for g in groups if g.size]
    while len(groups) > 1:  # merge the closest pair while it is closer than MERGE_DE
        means = [g.mean(axis=0) for g in groups]
        best = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                d = float(deltaE_ciede2000(means[i], means[j]))
                if best is None or d < best[0]:
                    best = (d, i, j)
        if best[0] >= MERGE_DE:
            break
        _, i, j = best
        groups[i] = np.concatenate([groups[i], groups.pop(j)])
    sizes = np.array([g.shape[0] for g in groups], np.float64)
    keep = sizes / sizes.sum() >= MIN_SHARE
    if not keep.any():
        keep[np.argmax(sizes)] = True
    groups = [g for g, kp in zip(groups, keep) if kp]
    sizes = sizes[keep]
    return GarmentColours(lab=np.array([g.mean(axis=0) for g in groups]),
                          share=sizes / sizes.sum())


def garment_colours(garment_rgb: np.ndarray) -> GarmentColours | None:
    """Palette of the garment in its flat shot, or None if it cannot be segmented."""
    from vidpipe.media.images import garment_mask

    rgb = np.ascontiguousarray(garment_rgb[..., :3])
    h, w = rgb.shape[:2]
    k = min(1.0, 512.0 / max(h, w))
    if k < 1.0:  # the mask is computed at <= 512 px anyway; the mean colour does not need more
        rgb = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))),
                         interpolation=cv2.INTER_AREA)
    mask, _ = garment_mask(rgb)
    if mask.sum() < MIN_TORSO_PX:
        return None
    r = max(1, round(min(rgb.shape[:2]) / 150))
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if inner.sum() >= MIN_TORSO_PX:
        mask = inner
    return palette(_lab(rgb[mask > 0]))


def torso_mask(shape: tuple[int, int], pose: lm.PoseLandmarks,
               face_box: tuple[float, float, float, float] | None = None) -> np.ndarray | None:
    """uint8 0/1 mask of the chest/belly region of a person with `pose` in an image of `shape`.

    None when the shoulders are not visible.
    """
    h, w = shape[:2]
    P = pose.points.astype(np.float64)
    if not (pose.visible(lm.L_SHOULDER) and pose.visible(lm.R_SHOULDER)):
        return None
    ls, rs = P[lm.L_SHOULDER], P[lm.R_SHOULDER]
    sw = float(np.linalg.norm(ls - rs))
    if sw < 4:
        return None
    down = np.array([0.0, 1.0])
    if pose.visible(lm.L_HIP, 0.3) and pose.visible(lm.R_HIP, 0.3):
        lh, rh = P[lm.L_HIP], P[lm.R_HIP]
    else:  # upper-body shot: assume a torso 1.4 shoulder widths long, slightly narrower
        mid = (ls + rs) / 2
        lh = mid + 0.35 * (ls - rs) + 1.4 * sw * down
        rh = mid - 0.35 * (ls - rs) + 1.4 * sw * down

    def along(a, b, t):
        return a + (b - a) * t

    # Rows from 18 % (below collar and straps) to 85 % (above the waistband) of the torso,
    # inset 20 % of the width on each side (arms hang there).
    top_l, top_r = along(ls, lh, 0.18), along(rs, rh, 0.18)
    bot_l, bot_r = along(ls, lh, 0.85), along(rs, rh, 0.85)
    quad = np.array([along(top_l, top_r, 0.2), along(top_l, top_r, 0.8),
                     along(bot_l, bot_r, 0.8), along(bot_l, bot_r, 0.2)])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(quad).astype(np.int32)], 1)
    radius = max(2, int(round(0.13 * sw)))
    for chain in ((lm.L_SHOULDER, lm.L_ELBOW, L_WRIST), (lm.R_SHOULDER, lm.R_ELBOW, R_WRIST)):
        for a, b in zip(chain[:-1], chain[1:]):
            if pose.visible(a, 0.3) and pose.visible(b, 0.3):
                cv2.line(mask, tuple(int(v) for v in np.round(P[a])),
                         tuple(int(v) for v in np.round(P[b])), 0, 2 * radius)
    if face_box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in face_box)
        mask[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = 0
    return mask if int(mask.sum()) >= MIN_TORSO_PX else None


def garment_delta_e(colours: GarmentColours, image: np.ndarray, mask: np.ndarray) -> float:
    """CIEDE2000 between the mean Lab of `image` inside `mask` and the garment's palette
    mean, weighted by the share of those pixels nearest to each palette colour."""
    from skimage.color import deltaE_ciede2000

    worn = _lab(np.ascontiguousarray(image[..., :3])[mask > 0])
    d = ((worn[:, None, :] - colours.lab[None, :, :]) ** 2).sum(axis=2)
    share = np.bincount(d.argmin(axis=1), minlength=len(colours.lab)) / worn.shape[0]
    expected = (colours.lab * share[:, None]).sum(axis=0)
    return float(deltaE_ciede2000(expected, worn.mean(axis=0)))


def image_torso(image: np.ndarray, person_box: tuple[int, int, int, int] | None = None
                ) -> np.ndarray | None:
    """Torso mask of the person in `image` (full-image coordinates), or None.

    `person_box` (x0, y0, x1, y1) crops to the person first, so pose works on small figures
    in a wide frame.
    """
    rgb = np.ascontiguousarray(image[..., :3])
    h, w = rgb.shape[:2]
    ox = oy = 0
    sub = rgb
    if person_box is not None:
        x0, y0, x1, y1 = person_box
        mx, my = int(0.1 * (x1 - x0)) + 4, int(0.05 * (y1 - y0)) + 4
        ox, oy = max(0, x0 - mx), max(0, y0 - my)
        sub = np.ascontiguousarray(rgb[oy:min(h, y1 + my), ox:min(w, x1 + mx)])
    pose = lm.detect_pose(sub)
    if pose is None:
        return None
    faces = lm.detect_faces(sub)
    face = None
    if faces:
        fx0, fy0, fx1, fy1, _ = faces[0]
        face = (fx0, fy0, fx1, fy1)
    local = torso_mask(sub.shape, pose, face)
    if local is None:
        return None
    if sub is rgb:
        return local
    full = np.zeros((h, w), np.uint8)
    full[oy:oy + local.shape[0], ox:ox + local.shape[1]] = local
    return full
