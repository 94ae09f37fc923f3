"""Classical virtual try-on: put the garment of a flat shot onto the person of a photo.

1. The person's torso and arms come from mediapipe pose landmarks (shoulders, elbows, wrists,
   hips; with no hips in frame, as in upper-body shots, the torso runs to the image bottom),
   the silhouette from the refined person matte, the face from the face mesh.
2. The garment is separated from its light background (Lab distance + grabCut); its outline
   gives the collar, the shoulder points, the armpits, the hem and the sleeves.
3. The garment body is warped piecewise-affinely (a mesh of triangles) from its outline onto
   the person's torso (shoulders to the hem, the sides following the person's body), each
   sleeve onto the upper arm in the direction of the elbow.
4. The warped garment is restricted to the person's silhouette minus face, neck, hair,
   forearms and hands, shaded with the person's low-frequency luminance (folds and light
   survive), and blended with feathered edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidpipe.errors import InputError
from vidpipe.render.embedded import landmarks as lm
from vidpipe.render.embedded.matte import person_matte


@dataclass
class TryOnResult:
    image: np.ndarray  # H x W x 3 uint8 RGB, same size as the person photo
    garment_mask: np.ndarray  # H x W float32 in [0, 1]: where the garment now is
    torso_polygon: np.ndarray  # (N, 2) float32, x y pixels: shoulders to hem on the person


# --------------------------------------------------------------------------- colour helpers

_LIN_LUT = np.array([(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
                     for c in np.arange(256) / 255.0], np.float32)


def _to_lin(rgb: np.ndarray) -> np.ndarray:
    return _LIN_LUT[rgb]


def _to_srgb(lin: np.ndarray) -> np.ndarray:
    """Linear [0, 1] to sRGB in 0..255 float (through a fine lookup table)."""
    idx = np.clip(lin * 4095.0 + 0.5, 0, 4095).astype(np.int32)
    return _SRGB_LUT[idx]


_c = np.linspace(0.0, 1.0, 4096)
_SRGB_LUT = (np.where(_c <= 0.0031308, _c * 12.92, 1.055 * np.power(_c, 1 / 2.4) - 0.055)
             * 255.0).astype(np.float32)
del _c


# --------------------------------------------------------------------------- garment layout

@dataclass
class GarmentLayout:
    mask: np.ndarray  # uint8 0/1
    top: float  # collar top row
    neck: tuple[float, float]  # x of the neck opening's left/right at the top
    shoulder_l: np.ndarray  # (x, y) image-left shoulder seam point
    shoulder_r: np.ndarray
    armpit_y: float
    rows: np.ndarray  # rows from the armpit to the hem
    left: np.ndarray  # body's left edge at those rows
    right: np.ndarray
    hem_y: float
    sleeves: dict  # "l"/"r" -> (4, 2) quad: shoulder, cuff outer, cuff inner, armpit


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    return list(zip(starts, ends - 1))


def garment_layout(mask: np.ndarray) -> GarmentLayout:
    ys, xs = np.nonzero(mask)
    if len(ys) < 100:
        raise InputError(None, "garment photo: no garment found")
    top, bottom = int(ys.min()), int(ys.max())
    G = bottom - top + 1
    cx = float(np.median(xs[ys < top + 0.4 * G]))
    ext = np.full((mask.shape[0], 2), np.nan)
    for y in range(top, bottom + 1):
        runs = _runs(mask[y] > 0)
        if not runs:
            continue
        best = None
        for a, b in runs:
            if a <= cx <= b:
                best = (a, b)
        if best is None:  # centre not covered (open front): outermost extent
            best = (runs[0][0], runs[-1][1])
        ext[y] = best
    width = ext[:, 1] - ext[:, 0]
    lower = np.arange(int(top + 0.5 * G), int(top + 0.85 * G))
    lower = lower[~np.isnan(width[lower])]
    body_w = float(np.median(width[lower])) if len(lower) else float(np.nanmax(width))
    body_l = float(np.median(ext[lower, 0])) if len(lower) else float(np.nanmin(ext[:, 0]))
    body_r = float(np.median(ext[lower, 1])) if len(lower) else float(np.nanmax(ext[:, 1]))
    # armpit: the lowest row in the upper part that is clearly wider than the body
    zone = np.arange(top, int(top + 0.6 * G))
    wide = zone[np.nan_to_num(width[zone]) > 1.15 * body_w]
    has_sleeves = len(wide) > 0.04 * G
    if has_sleeves:
        armpit_y = float(wide.max()) + 1
    else:
        armpit_y = float(top + 0.3 * G)
    # the hem: the lowest row whose central run is still body-wide (drops tie tails etc.)
    rows_all = np.arange(int(armpit_y), bottom + 1)
    ok = rows_all[np.nan_to_num(width[rows_all]) > 0.6 * body_w]
    hem_y = float(ok.max()) if len(ok) else float(bottom)

    def top_edge(x: float) -> float:
        col = mask[:, int(np.clip(round(x), 0, mask.shape[1] - 1))]
        nz = np.nonzero(col)[0]
        return float(nz.min()) if len(nz) else float(top)

    # shoulder seam points: above the body's sides at the armpit level
    yy = int(min(armpit_y + 0.03 * G, hem_y))
    arm_l = float(np.nanmedian(ext[max(top, yy - 3):yy + 4, 0]))
    arm_r = float(np.nanmedian(ext[max(top, yy - 3):yy + 4, 1]))
    if not has_sleeves:
        arm_l, arm_r = body_l, body_r
        # sleeveless: the shoulder points are the outermost points of the upper part
        up = np.arange(top, int(armpit_y))
        arm_l = float(np.nanmin(ext[up, 0]))
        arm_r = float(np.nanmax(ext[up, 1]))
    sh_l = np.array([arm_l, top_edge(arm_l)], np.float64)
    sh_r = np.array([arm_r, top_edge(arm_r)], np.float64)
    # neck opening at the top
    # neck opening: the collar's width a little below the top (the very top row may be a
    # label or the peak of a curved back collar), centred on the garment
    neck = (cx - 0.17 * body_w, cx + 0.17 * body_w)
    nrow = int(top + 0.03 * G)
    runs = _runs(mask[nrow] > 0)
    if runs:
        a, b = min(runs, key=lambda r: abs((r[0] + r[1]) / 2 - cx))
        half = min(abs(cx - a), abs(b - cx))
        if 0.1 * body_w <= half <= 0.35 * body_w:
            neck = (cx - half, cx + half)
    rows = np.linspace(armpit_y, hem_y, 5)
    left = np.array([np.nanmedian(ext[max(top, int(r) - 4):int(r) + 5, 0]) for r in rows])
    right = np.array([np.nanmedian(ext[max(top, int(r) - 4):int(r) + 5, 1]) for r in rows])
    sleeves: dict = {}
    if has_sleeves:
        ay = int(armpit_y)
        yy_, xx_ = np.nonzero(mask[:ay + 1])
        for side in ("l", "r"):
            if side == "l":
                sel = xx_ < arm_l - 2
                shoulder, armpit = sh_l, np.array([arm_l, armpit_y])
            else:
                sel = xx_ > arm_r + 2
                shoulder, armpit = sh_r, np.array([arm_r, armpit_y])
            if sel.sum() < 30:
                continue
            pts = np.stack([xx_[sel], yy_[sel]], axis=1).astype(np.float64)
            base = (shoulder + armpit) / 2
            dist = np.hypot(*(pts - base).T)
            far = pts[dist >= np.percentile(dist, 92)]
            tip = far.mean(axis=0)
            axis = tip - base
            ln = float(np.hypot(*axis))
            if ln < 5:
                continue
            axis /= ln
            perp = np.array([-axis[1], axis[0]])
            near_end = pts[(pts - base) @ axis >= ln - 0.12 * ln]
            proj = (near_end - base) @ perp
            c1 = base + axis * ln + perp * proj.min()
            c2 = base + axis * ln + perp * proj.max()
            # outer cuff corner is the one nearer the shoulder top
            if np.hypot(*(c1 - shoulder)) > np.hypot(*(c2 - shoulder)):
                c1, c2 = c2, c1
            sleeves[side] = np.array([shoulder, c1, c2, armpit], np.float64)
    return GarmentLayout(mask=mask, top=float(top), neck=neck, shoulder_l=sh_l, shoulder_r=sh_r,
                         armpit_y=float(armpit_y), rows=rows, left=left, right=right,
                         hem_y=hem_y, sleeves=sleeves)


def neck_opening(garment: np.ndarray, layout: GarmentLayout) -> np.ndarray:
    """Float mask of the inside of the back seen through the front neckline of a flat shot
    (a darker patch hanging from the collar between the neck edges). Worn, that is where
    the neck and chest show, not fabric."""
    mask = layout.mask > 0
    H, W = mask.shape
    G = layout.hem_y - layout.top
    y0, y1 = int(layout.top), int(min(H, layout.top + 0.4 * G))
    x0 = int(max(0, layout.shoulder_l[0]))
    x1 = int(min(W, layout.shoulder_r[0] + 1))
    out = np.zeros((H, W), np.float32)
    if y1 - y0 < 8 or x1 - x0 < 8:
        return out
    L = _lab(garment)[..., 0]
    body = mask[y0:y1, x0:x1]
    ref = float(np.median(L[y0:y1, x0:x1][body]))
    dark = np.zeros((H, W), np.uint8)
    dark[y0:y1, x0:x1] = (L[y0:y1, x0:x1] < ref - max(6.0, 0.18 * ref)) & body
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    n, labels, stats, cents = cv2.connectedComponentsWithStats(dark, 8)
    nx0, nx1 = layout.neck
    ncx = (nx0 + nx1) / 2
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        # hangs from the collar (starts in the top rows), centred on the neck, not huge
        if (y <= layout.top + 0.06 * G and abs(cents[i][0] - ncx) < 0.25 * (nx1 - nx0 + 1)
                and w <= 1.3 * (nx1 - nx0 + 1) and area < 0.08 * mask.sum()):
            out[labels == i] = 1.0
    if out.any():
        out = cv2.GaussianBlur(out, (0, 0), 1.5)
    return out


# --------------------------------------------------------------------------- warping

def _warp_triangles(src: np.ndarray, src_tris: list, dst_tris: list,
                    shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-affine warp of `src` (h x w x c float32) into an H x W canvas."""
    H, W = shape
    c = src.shape[2]
    out = np.zeros((H, W, c), np.float32)
    cover = np.zeros((H, W), np.float32)
    for s_tri, d_tri in zip(src_tris, dst_tris):
        s_tri = np.asarray(s_tri, np.float32)
        d_tri = np.asarray(d_tri, np.float32)
        x0, y0 = np.floor(d_tri.min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(d_tri.max(axis=0)).astype(int) + 2
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        area = abs(np.cross(d_tri[1] - d_tri[0], d_tri[2] - d_tri[0]))
        if area < 0.5 or abs(np.cross(s_tri[1] - s_tri[0], s_tri[2] - s_tri[0])) < 0.5:
            continue
        M = cv2.getAffineTransform(s_tri, d_tri - np.array([cx0, cy0], np.float32))
        patch = cv2.warpAffine(src, M, (cx1 - cx0, cy1 - cy0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        if patch.ndim == 2:
            patch = patch[..., None]
        tmask = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
        cv2.fillConvexPoly(tmask, np.round((d_tri - [cx0, cy0]) * 16).astype(np.int32), 1,
                           lineType=cv2.LINE_8, shift=4)
        tm = tmask.astype(bool)
        region = out[cy0:cy1, cx0:cx1]
        region[tm] = patch[tm]
        cover[cy0:cy1, cx0:cx1][tm] = 1.0
    return out, cover


def _grid_tris(src_grid: np.ndarray, dst_grid: np.ndarray) -> tuple[list, list]:
    """Two triangles per cell of matching (rows, cols, 2) grids."""
    s_t, d_t = [], []
    r, c = src_grid.shape[:2]
    for i in range(r - 1):
        for j in range(c - 1):
            a, b, cc, d = (i, j), (i, j + 1), (i + 1, j + 1), (i + 1, j)
            for tri in ((a, b, cc), (a, cc, d)):
                s_t.append([src_grid[p] for p in tri])
                d_t.append([dst_grid[p] for p in tri])
    return s_t, d_t


def _row_grid(left: np.ndarray, right: np.ndarray, cols: int = 5) -> np.ndarray:
    """(rows, cols, 2) grid spanning each row's left/right points."""
    u = np.linspace(0.0, 1.0, cols)[None, :, None]
    return left[:, None, :] * (1 - u) + right[:, None, :] * u


# --------------------------------------------------------------------------- person layout

def _capsule(shape, p0, p1, radius) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.line(m, tuple(int(round(v)) for v in p0), tuple(int(round(v)) for v in p1), 1,
             thickness=max(1, int(round(2 * radius))), lineType=cv2.LINE_8)
    return m.astype(bool)


def _scan(alpha: np.ndarray, p: np.ndarray, direction: np.ndarray, max_dist: float) -> float | None:
    """Distance from p along direction to where the silhouette ends (None if it never does)."""
    H, W = alpha.shape
    for d in range(1, int(max_dist)):
        x, y = p + direction * d
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi < W and 0 <= yi < H):
            return float(d)
        if alpha[yi, xi] < 0.5:
            return float(d)
    return None


def _arm_polyline(P, vis, chain, sh_mid, sw, side) -> np.ndarray:
    sh_i, el_i, wr_i = chain[0], chain[1], chain[2]
    sh = P[sh_i]
    outv = -1.0 if side == "l" else 1.0
    el = P[el_i] if vis[el_i] >= 0.3 else sh + np.array([0.25 * outv, 1.0]) * 0.88 * sw
    wr = P[wr_i] if vis[wr_i] >= 0.3 else el + (el - sh)
    return np.array([sh, el, wr], np.float64)


def _torso_extent(alpha, arm_lines, y, xc, sw):
    """(left, right) of the torso at row y: the silhouette run around xc, but not into the
    arms hanging at its sides. None when the row is outside the image."""
    H, W = alpha.shape
    r = int(round(y))
    if not 0 <= r < H:
        return None
    row = alpha[r] > 0.5
    x = int(np.clip(round(xc), 0, W - 1))
    if not row[x]:
        return None
    left = x
    while left > 0 and row[left - 1]:
        left -= 1
    right = x
    while right < W - 1 and row[right + 1]:
        right += 1
    for side, line in arm_lines.items():
        for a, b in zip(line[:-1], line[1:]):
            if min(a[1], b[1]) <= y <= max(a[1], b[1]) and abs(b[1] - a[1]) > 1e-6:
                xa = a[0] + (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1])
                if side == "l" and xa < xc:
                    left = max(left, xa + 0.10 * sw)
                elif side == "r" and xa > xc:
                    right = min(right, xa - 0.10 * sw)
                break
    if right - left < 0.3 * sw:
        return None
    return float(left), float(right)


def _luma(rgb_lin: np.ndarray) -> np.ndarray:
    return rgb_lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32) * np.array(
        [100 / 255, 1, 1], np.float32) - np.array([0, 128, 128], np.float32)


class _ColourModel:
    """Gaussian colour model in Lab (lightness down-weighted: lighting varies)."""

    def __init__(self, samples: np.ndarray):
        x = samples.reshape(-1, 3).astype(np.float64) * np.array([0.35, 1.0, 1.0])
        self.mean = x.mean(axis=0)
        cov = np.cov(x.T) + np.eye(3) * 4.0
        self.inv = np.linalg.inv(cov)

    def distance(self, lab: np.ndarray) -> np.ndarray:
        d = lab.reshape(-1, 3) * np.array([0.35, 1.0, 1.0], np.float32) - self.mean.astype(np.float32)
        m = ((d @ self.inv.astype(np.float32)) * d).sum(axis=1)
        return np.sqrt(np.maximum(m, 0)).reshape(lab.shape[:2])


def _skin_rgb(model: "_ColourModel") -> np.ndarray:
    """sRGB uint8 of the skin model's mean colour."""
    lab = model.mean / np.array([0.35, 1.0, 1.0])
    lab8 = np.array([lab[0] * 255 / 100, lab[1] + 128, lab[2] + 128], np.float64)
    px = np.clip(lab8, 0, 255).astype(np.uint8).reshape(1, 1, 3)
    return cv2.cvtColor(px, cv2.COLOR_LAB2RGB).reshape(3)


def _fill_colour(lin: np.ndarray, weight: np.ndarray, side: int = 192) -> np.ndarray:
    """Smooth extension of the garment colours into uncovered pixels (normalised
    convolution at low resolution, widening until everything has a value)."""
    H, W = weight.shape
    s = min(1.0, side / max(H, W))
    sw, sh = max(1, round(W * s)), max(1, round(H * s))
    wt = cv2.resize(weight.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    img = cv2.resize(lin * weight[..., None], (sw, sh), interpolation=cv2.INTER_AREA)
    out = np.zeros_like(img)
    have = np.zeros(wt.shape, bool)
    for sg in (1.0, 3.0, 9.0, 27.0):
        num = cv2.GaussianBlur(img, (0, 0), sg)
        den = cv2.GaussianBlur(wt, (0, 0), sg)
        take = (den > 1e-3) & ~have
        out[take] = (num / np.maximum(den[..., None], 1e-6))[take]
        have |= take
    if not have.all():
        out[~have] = img.reshape(-1, 3).sum(0) / max(float(wt.sum()), 1e-6)
    return cv2.resize(out, (W, H), interpolation=cv2.INTER_LINEAR)


def _primary_colours(garment: np.ndarray, solid: np.ndarray, *, seed: int) -> np.ndarray:
    """1 where the flat shot shows one of the garment's main fabric colours (a colour
    cluster holding at least a fifth of the garment), 0 on prints, stripes and trims."""
    H, W = solid.shape
    lab = _lab(garment)
    px = lab[solid]
    if len(px) < 50:
        return solid.astype(np.float32)
    step = max(1, len(px) // 6000)
    sample = np.ascontiguousarray(px[::step], dtype=np.float32)
    cv2.setRNGSeed(int(seed))
    k = 4
    _, labels, centres = cv2.kmeans(sample, k, None,
                                    (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5),
                                    2, cv2.KMEANS_PP_CENTERS)
    share = np.bincount(labels.ravel(), minlength=k) / len(labels)
    d = ((lab.reshape(-1, 1, 3) - centres[None]) ** 2).sum(axis=2)
    nearest = d.argmin(axis=1).reshape(H, W)
    out = np.isin(nearest, np.nonzero(share >= 0.2)[0]) & solid
    return out.astype(np.float32)


def _garment_source(garment: np.ndarray, seed: int):
    """What the warp takes from the flat shot: the garment's layout, and per pixel the
    linear colour, coverage, main-fabric and neck-opening channels. It needs nothing of the
    person, so `try_on` makes it on a second thread while it reads the person photo."""
    from vidpipe.media.images import garment_mask as _garment_mask

    gmask, _ = _garment_mask(garment, seed=seed)
    G = garment_layout(gmask)
    gm_f = cv2.GaussianBlur(gmask.astype(np.float32), (0, 0), 0.8)
    g_lin = _to_lin(garment)
    # outside the garment (and on its anti-aliased rim) continue the fabric colour, so that
    # no warp ever samples the flat shot's background
    solid = cv2.erode(gmask, np.ones((5, 5), np.uint8)) > 0
    g_lin = np.where(solid[..., None], g_lin, _fill_colour(g_lin, solid.astype(np.float32)))
    primary = _primary_colours(garment, solid, seed=seed)
    opening = neck_opening(garment, G)
    src = np.concatenate([g_lin, gm_f[..., None], primary[..., None], opening[..., None]],
                         axis=2).astype(np.float32)
    return G, src


def try_on(person_rgb: np.ndarray, garment_rgb: np.ndarray, *, seed: int) -> TryOnResult:
    """The person photo with the garment of the flat shot worn on the torso (and arms)."""
    from concurrent.futures import ThreadPoolExecutor

    person = np.ascontiguousarray(person_rgb[..., :3]).astype(np.uint8)
    garment = np.ascontiguousarray(garment_rgb[..., :3]).astype(np.uint8)
    # The garment's half and the person's half meet only at the warp; OpenCV and numpy let
    # go of the GIL, so the two run side by side (try-on is on the path of every render).
    with ThreadPoolExecutor(1, thread_name_prefix="garment") as pool:
        garment_side = pool.submit(_garment_source, garment, seed)
        return _try_on(person, garment_side, seed)


def _try_on(person: np.ndarray, garment_side, seed: int) -> TryOnResult:
    H, W = person.shape[:2]
    pose = lm.detect_pose(person)
    if pose is None:
        raise InputError(None, "person photo: no body pose found")
    P = pose.points.astype(np.float64)
    vis = pose.visibility
    alpha = person_matte(person, seed=seed, prior=lm.selfie_mask(person))
    mesh = lm.detect_face_mesh(person)
    lab = _lab(person)
    half_size = (max(1, W // 2), max(1, H // 2))
    lab_half = cv2.resize(lab, half_size, interpolation=cv2.INTER_AREA)

    def colour_distance(model: "_ColourModel") -> np.ndarray:
        # colour decisions at half resolution are plenty (edges are feathered later)
        return cv2.resize(model.distance(lab_half), (W, H), interpolation=cv2.INTER_LINEAR)
    yy = np.arange(H)[:, None]
    full = np.ones((1, W), bool)

    # image-left / image-right chains (a frontal photo shows the person's right on the left)
    right_side = (lm.R_SHOULDER, lm.R_ELBOW, 16, lm.R_HIP, (16, 18, 20, 22))
    left_side = (lm.L_SHOULDER, lm.L_ELBOW, 15, lm.L_HIP, (15, 17, 19, 21))
    if P[lm.R_SHOULDER, 0] <= P[lm.L_SHOULDER, 0]:
        chain = {"l": right_side, "r": left_side}
    else:
        chain = {"l": left_side, "r": right_side}
    shl, shr = P[chain["l"][0]], P[chain["r"][0]]
    sw = float(np.hypot(*(shr - shl)))
    if sw < 8:
        raise InputError(None, "person photo: shoulders not found")
    sh_mid = (shl + shr) / 2
    hips_ok = all(vis[chain[k][3]] >= 0.5 and P[chain[k][3], 1] < H - 1 for k in "lr")
    hl, hr = P[chain["l"][3]], P[chain["r"][3]]
    if hips_ok:
        hip_mid = (hl + hr) / 2
    else:
        # upper-body shot: extrapolate the torso downwards (hips ~1.55 shoulder widths
        # below the shoulders); it runs off the image bottom
        down = hl + hr - shl - shr
        down = down / (np.hypot(*down) + 1e-9)
        if down[1] < 0.7:
            down = np.array([0.0, 1.0])
        hip_mid = sh_mid + down * 1.55 * sw
    torso_len = float(np.hypot(*(hip_mid - sh_mid)))
    down = (hip_mid - sh_mid) / max(torso_len, 1e-9)

    # ---------------------------------------------------------------- face, neck, skin
    head = np.zeros((H, W), bool)  # never covered: face and everything above the chin
    if mesh is not None:
        fx0, fy0, fx1, fy1 = mesh.box
        oval = np.round(mesh.points[lm.FACE_OVAL]).astype(np.int32)
        chin = mesh.points[lm.CHIN].astype(np.float64)
    else:
        faces = lm.detect_faces(person)
        if faces:
            fx0, fy0, fx1, fy1, _ = faces[0]
        else:
            fx0, fx1 = sh_mid[0] - 0.25 * sw, sh_mid[0] + 0.25 * sw
            fy0, fy1 = sh_mid[1] - 0.9 * sw, sh_mid[1] - 0.3 * sw
        oval = cv2.ellipse2Poly((int((fx0 + fx1) / 2), int((fy0 + fy1) / 2)),
                                (int((fx1 - fx0) * 0.5), int((fy1 - fy0) * 0.55)), 0, 0, 360, 10)
        chin = np.array([(fx0 + fx1) / 2, fy1])
    face_w, face_h = fx1 - fx0, fy1 - fy0
    fm = np.zeros((H, W), np.uint8)
    cv2.fillPoly(fm, [oval], 1)
    inner = cv2.erode(fm, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, int(0.2 * face_w)) | 1,) * 2)) > 0
    k = max(3, int(0.06 * face_h)) | 1
    head |= cv2.dilate(fm, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    head |= (yy < chin[1]) & full
    skin_px = lab[inner]
    if len(skin_px) > 50:
        Ls = skin_px[:, 0]
        lo, hi = np.percentile(Ls, [20, 95])
        skin_px = skin_px[(Ls >= lo) & (Ls <= hi)]
    skin = _ColourModel(skin_px) if len(skin_px) > 30 else None
    d_skin = colour_distance(skin) if skin is not None else np.full((H, W), 99.0, np.float32)
    skin_like = d_skin < 3.0
    # neck: from the chin down to a round neckline; its skin stays visible
    neck = np.zeros((H, W), np.uint8)
    neck_hw = 0.38 * face_w
    top_y = int(round(chin[1] - 0.05 * face_h))
    base_y = int(round(sh_mid[1] - 0.1 * sw))
    cx_n = int(round((chin[0] + sh_mid[0]) / 2))
    if base_y > top_y:
        cv2.rectangle(neck, (int(cx_n - neck_hw), top_y), (int(cx_n + neck_hw), base_y), 1, -1)
    cv2.ellipse(neck, (cx_n, base_y), (int(neck_hw * 1.3), int(0.14 * sw)), 0, 0, 180, 1, -1)
    neck = neck > 0

    # ---------------------------------------------------------------- arms and hands
    arm_lines = {k: _arm_polyline(P, vis, chain[k], sh_mid, sw, k) for k in "lr"}
    arms = np.zeros((H, W), bool)
    hands = np.zeros((H, W), bool)
    for k in "lr":
        sh, el, wr = arm_lines[k]
        arms |= _capsule((H, W), sh, el, 0.11 * sw)
        el_i, wr_i, hand_ids = chain[k][1], chain[k][2], chain[k][4]
        if vis[wr_i] >= 0.3 or vis[el_i] >= 0.3:
            arms |= _capsule((H, W), el, wr, 0.09 * sw)
            hc = P[list(hand_ids)].mean(axis=0)
            hm = np.zeros((H, W), np.uint8)
            cv2.circle(hm, (int(round(hc[0])), int(round(hc[1]))), int(0.2 * sw), 1, -1)
            hands |= hm > 0

    # ---------------------------------------------------------------- garment
    G, src = garment_side.result()
    g_sh_mid = (G.shoulder_l + G.shoulder_r) / 2
    g_sw = float(np.hypot(*(G.shoulder_r - G.shoulder_l)))
    # person's shoulder seam points: most of the way from the joint to the outer shoulder,
    # on the top contour of the shoulder
    out_l = (shl - shr) / sw
    edge_l = _scan(alpha, shl, out_l, 0.6 * sw) or 0.12 * sw
    edge_r = _scan(alpha, shr, -out_l, 0.6 * sw) or 0.12 * sw
    p_sh_l = shl + out_l * 0.95 * edge_l
    p_sh_r = shr - out_l * 0.95 * edge_r
    for pt in (p_sh_l, p_sh_r):
        rise = _scan(alpha, pt, np.array([0.0, -1.0]), 0.4 * sw) or 0.08 * sw
        pt[1] -= rise + 0.02 * sw
    p_sw = float(np.hypot(*(p_sh_r - p_sh_l)))
    s = p_sw / max(g_sw, 1.0)
    p_sh_mid = (p_sh_l + p_sh_r) / 2
    # length: the garment's own proportion, kept between the waist and below the hips
    g_len = G.hem_y - g_sh_mid[1]
    p_len = float(np.clip(g_len * s, 0.9 * torso_len, 1.2 * torso_len))
    g_rows_t = (G.rows - g_sh_mid[1]) / max(g_len, 1.0)
    ys_mesh = p_sh_mid[1] + down[1] * g_rows_t * p_len
    # the torso's sides, measured on many rows and fitted with straight lines (robust to a
    # hand or an elbow touching the body on a few rows)
    samples = []
    for y in np.linspace(ys_mesh[0], ys_mesh[-1], 24):
        frac = (y - sh_mid[1]) / max(hip_mid[1] - sh_mid[1], 1.0)
        xc = float(sh_mid[0] + (hip_mid[0] - sh_mid[0]) * frac)
        ext = _torso_extent(alpha, arm_lines, y, xc, sw)
        if ext is not None and 0.6 * sw <= ext[1] - ext[0] <= 1.8 * sw:
            samples.append((y, ext[0], ext[1]))
    margin = 0.04 * sw
    if len(samples) >= 4:
        arr = np.array(samples)
        fits = []
        for col in (1, 2):
            keep = np.ones(len(arr), bool)
            for _ in range(2):
                coef = np.polyfit(arr[keep, 0], arr[keep, col], 1)
                res = np.abs(np.polyval(coef, arr[:, 0]) - arr[:, col])
                mad = np.median(res[keep]) + 1.0
                keep = res <= 2.5 * mad
                if keep.sum() < 3:
                    keep = np.ones(len(arr), bool)
            fits.append(coef)
        lefts = np.polyval(fits[0], ys_mesh)
        rights = np.polyval(fits[1], ys_mesh)
    else:
        frac = (ys_mesh - sh_mid[1]) / max(hip_mid[1] - sh_mid[1], 1.0)
        xcs = sh_mid[0] + (hip_mid[0] - sh_mid[0]) * frac
        lefts, rights = xcs - 0.5 * p_sw, xcs + 0.5 * p_sw
    widths = np.clip(rights - lefts, 0.7 * sw, 1.7 * sw)
    centres = (lefts + rights) / 2
    p_left = np.stack([centres - widths / 2 - margin, ys_mesh], axis=1)
    p_right = np.stack([centres + widths / 2 + margin, ys_mesh], axis=1)
    # collar: the garment's top, scaled, above the shoulder line
    p_neck_y = p_sh_mid[1] - (g_sh_mid[1] - G.top) * s
    g_ncx = (G.neck[0] + G.neck[1]) / 2
    p_neck_l = np.array([cx_n + (G.neck[0] - g_ncx) * s, p_neck_y])
    p_neck_r = np.array([cx_n + (G.neck[1] - g_ncx) * s, p_neck_y])
    g_left = np.concatenate([[[G.neck[0], G.top]], [G.shoulder_l], np.stack([G.left, G.rows], 1)])
    g_right = np.concatenate([[[G.neck[1], G.top]], [G.shoulder_r], np.stack([G.right, G.rows], 1)])
    d_left = np.concatenate([[p_neck_l], [p_sh_l], p_left])
    d_right = np.concatenate([[p_neck_r], [p_sh_r], p_right])
    src_tris, dst_tris = _grid_tris(_row_grid(g_left, g_right), _row_grid(d_left, d_right))

    # sleeves onto the upper arms, pointing at the elbows
    sleeve_src, sleeve_dst = [], []
    for side, quad in G.sleeves.items():
        joint, el, _ = arm_lines[side]
        axis = el - joint
        upper = float(np.hypot(*axis))
        axis = axis / (upper + 1e-9)
        outward = np.array([-axis[1], axis[0]])
        if (outward @ (joint - sh_mid)) < 0:
            outward = -outward
        g_shoulder, g_c1, g_c2, g_arm = quad
        g_slen = float(np.hypot(*((g_c1 + g_c2) / 2 - (g_shoulder + g_arm) / 2)))
        slen = float(min(g_slen * s, 0.92 * upper))
        cuff_w = float(np.hypot(*(g_c2 - g_c1))) * s
        outer = edge_l if side == "l" else edge_r
        half_out = max(1.3 * outer, 0.45 * cuff_w, 0.14 * sw)
        half_in = max(0.14 * sw, 0.4 * cuff_w)
        end = joint + axis * slen
        dst_q = [p_sh_l if side == "l" else p_sh_r, end + outward * half_out,
                 end - outward * half_in, p_left[0] if side == "l" else p_right[0]]
        src_q = [g_shoulder, g_c1, g_c2, g_arm]
        sleeve_src += [[src_q[0], src_q[1], src_q[2]], [src_q[0], src_q[2], src_q[3]]]
        sleeve_dst += [[dst_q[0], dst_q[1], dst_q[2]], [dst_q[0], dst_q[2], dst_q[3]]]

    body, body_cov = _warp_triangles(src, src_tris, dst_tris, (H, W))
    if sleeve_src:
        slv, slv_cov = _warp_triangles(src, sleeve_src, sleeve_dst, (H, W))
    else:
        slv, slv_cov = np.zeros_like(body), np.zeros((H, W), np.float32)
    # arms (below the armpits) are in front of the body piece; sleeves lie on top of both
    arm_block = (arms & ~((yy < p_left[0][1]) & full)) | hands
    body_a = body[..., 3] * body_cov * (~arm_block)
    slv_a = slv[..., 3] * slv_cov * (~hands)
    lin = body[..., :3] * (body_a > 0)[..., None]
    lin = np.where((slv_a > 0.5)[..., None], slv[..., :3], lin)
    prim = np.where(slv_a > 0.5, slv[..., 4], body[..., 4])
    # the neckline: where the flat shot shows the inside of the back, the wearer's neck and
    # chest show (their own skin if it is there, else a skin-coloured fill)
    open_w = body[..., 5] * (body_a > 0) * (slv_a < 0.5)
    warped = np.maximum(body_a * (1 - open_w), slv_a) * (~head) * (~neck)

    # ---------------------------------------------------------------- old clothing
    # what the person wore on the torso and is not under the new garment (sides, a longer
    # old sleeve, an old collar) is covered by the new fabric's colour, so no remnants show
    core = np.zeros((H, W), np.uint8)
    c_top = sh_mid + down * 0.25 * torso_len
    c_bot = sh_mid + down * min(0.8 * torso_len, (H - 1 - sh_mid[1]) * 0.9)
    hw = 0.22 * sw
    cv2.fillConvexPoly(core, np.round(np.array([c_top - [hw, 0], c_top + [hw, 0],
                                                c_bot + [hw, 0], c_bot - [hw, 0]])).astype(np.int32), 1)
    core_sel = (core > 0) & (alpha > 0.5) & ~skin_like & ~hands
    extension = np.zeros((H, W), np.float32)
    if core_sel.sum() > 100:
        cloth = _ColourModel(lab[core_sel])
        d_cloth = colour_distance(cloth)
        cloth_like = (d_cloth < 3.5) & (d_cloth < d_skin)
        band = (yy >= min(p_sh_l[1], p_sh_r[1]) - 0.1 * sw) & (yy <= p_left[-1][1] + 0.03 * sw)
        cand = (cloth_like & band & (alpha > 0.5) & ~head & ~hands & ~(neck & skin_like)
                & (open_w < 0.5))
        cov = warped > 0.5
        dist = cv2.distanceTransform((~cov).astype(np.uint8), cv2.DIST_L2, 3)
        cand &= dist < 0.4 * sw
        n, labels = cv2.connectedComponents((cand | cov).astype(np.uint8), connectivity=8)
        touching = np.unique(labels[cov])
        cand &= np.isin(labels, touching[touching > 0]) & ~cov
        extension = cv2.GaussianBlur(cand.astype(np.float32), (0, 0), 1.0)
    g_alpha = np.maximum(warped, extension)
    covered = warped > 0.5
    if covered.any():
        # extend with the garment's main fabric colours (not its prints or stripes)
        src_w = covered & (prim > 0.5)
        if src_w.sum() < 0.2 * covered.sum():
            src_w = covered
        fill = _fill_colour(lin, src_w.astype(np.float32))
        lin = np.where(covered[..., None], lin, fill)
    g_alpha = np.clip(g_alpha * alpha, 0, 1).astype(np.float32)
    feather = max(0.8, H / 700)
    g_alpha = np.minimum(cv2.GaussianBlur(g_alpha, (0, 0), feather), alpha)
    g_alpha[head & (fm > 0)] = 0.0

    # ---------------------------------------------------------------- shading
    p_lin = _to_lin(person)
    Y = _luma(p_lin)
    half = cv2.resize(Y, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    half = cv2.medianBlur((np.clip(half, 0, 1) * 255).astype(np.uint8), 7).astype(np.float32) / 255
    Yl = cv2.resize(cv2.GaussianBlur(half, (0, 0), max(1.5, H / 400)), (W, H),
                    interpolation=cv2.INTER_LINEAR)
    region = g_alpha > 0.5
    if region.sum() > 50:
        # ratio to a broad local mean keeps folds, side shadows and arm shadows and drops
        # the old garment's own colour; the broad falloff keeps the light's direction
        q = 8  # the broad mean is smooth: compute it at 1/8 resolution
        wts = cv2.resize(region.astype(np.float32), (max(1, W // q), max(1, H // q)),
                         interpolation=cv2.INTER_AREA)
        yq = cv2.resize(Yl, (max(1, W // q), max(1, H // q)), interpolation=cv2.INTER_AREA)
        broad = cv2.GaussianBlur(yq * wts, (0, 0), H / 12 / q) / np.maximum(
            cv2.GaussianBlur(wts, (0, 0), H / 12 / q), 1e-4)
        broad = cv2.resize(broad, (W, H), interpolation=cv2.INTER_LINEAR)
        ratio = np.clip((Yl + 0.02) / (broad + 0.02), 0.4, 1.5) ** 0.8
        mean_b = float(broad[region].mean())
        falloff = np.clip((broad + 0.02) / (mean_b + 0.02), 0.6, 1.4) ** 0.35
        shade = ratio * falloff
        shade = shade / float(np.mean(shade[region]))
    else:
        shade = np.ones((H, W), np.float32)
    shaded = _to_srgb(lin * shade[..., None])
    a3 = g_alpha[..., None]
    out = person.astype(np.float32) * (1 - a3) + shaded * a3
    # skin fill in the neckline where the person wore something else there
    if skin is not None and open_w.max() > 0:
        s_a = open_w * (~skin_like) * (alpha > 0.5) * (~head)
        s_a = np.clip(cv2.GaussianBlur(s_a.astype(np.float32), (0, 0), feather) - g_alpha, 0, 1)
        if s_a.max() > 0:
            skin_lin = _to_lin(_skin_rgb(skin))
            skin_img = _to_srgb(skin_lin.reshape(1, 1, 3) * shade[..., None])
            out = out * (1 - s_a[..., None]) + skin_img * s_a[..., None]
    image = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    torso = np.array([p_sh_l, p_sh_r, p_right[-1], p_left[-1]], np.float32)
    return TryOnResult(image=image, garment_mask=g_alpha.astype(np.float32),
                       torso_polygon=torso)


def garment_colour_delta_e(result: TryOnResult, garment_rgb: np.ndarray, *, seed: int = 0) -> float:
    """ΔE2000 between the mean Lab colour of the garment in its flat shot and the mean Lab
    colour of the try-on inside the torso polygon where the garment is."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    from vidpipe.media.images import garment_mask as _garment_mask

    gm, _ = _garment_mask(garment_rgb, seed=seed)
    g = gm.astype(bool)
    g = cv2.erode(gm, np.ones((7, 7), np.uint8)).astype(bool) if g.sum() > 500 else g
    flat = rgb2lab(garment_rgb[..., :3][g].reshape(-1, 1, 3).astype(np.float64) / 255).reshape(-1, 3)
    H, W = result.image.shape[:2]
    poly = np.zeros((H, W), np.uint8)
    cv2.fillPoly(poly, [np.round(result.torso_polygon).astype(np.int32)], 1)
    sel = (poly > 0) & (result.garment_mask > 0.9)
    if sel.sum() < 10:
        return float("inf")
    worn = rgb2lab(result.image[sel].reshape(-1, 1, 3).astype(np.float64) / 255).reshape(-1, 3)
    return float(deltaE_ciede2000(flat.mean(axis=0), worn.mean(axis=0)))
