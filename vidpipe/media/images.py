"""Loading and validating the user's photos (person, garment, scene).

`load_image` is the one door every user image goes through: it refuses, with a one-line
`InputError`, files that are missing, not images, truncated, too small or absurdly large
(the size is read from the header first, so decompression bombs cost nothing), and returns
RGB uint8 with the EXIF orientation applied and any transparency flattened on white.
The `validate_*_photo` functions add the checks specific to each role and return a small
summary of what was found.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel

from vidpipe.errors import InputError

# Minimum share of the frame the person mask must cover to count as a person.
_MIN_PERSON_COVERAGE = 0.03
# Minimum share of the frame the garment must cover, and the most it may cover.
_MIN_GARMENT_COVERAGE = 0.04
_MAX_GARMENT_COVERAGE = 0.92


class ImageSummary(BaseModel):
    width: int
    height: int
    format: str | None = None


class PersonPhotoSummary(BaseModel):
    width: int
    height: int
    person_coverage: float  # share of the frame covered by the person mask
    face_box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    face_score: float
    pose_found: bool
    shoulders_visible: bool
    full_body: bool  # both ankles visible inside the frame


class GarmentPhotoSummary(BaseModel):
    width: int
    height: int
    garment_coverage: float
    garment_box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
    background_rgb: tuple[int, int, int]
    garment_rgb: tuple[int, int, int]  # mean colour of the garment region


class ScenePhotoSummary(BaseModel):
    width: int
    height: int
    orientation: str  # "portrait" | "landscape" | "square"
    mean_brightness: float  # 0..1
    person_coverage: float  # share covered by people already in the scene (informative)


def _header(path: Path, max_side: int, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as exc:
        m = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(m.group(1)) / 1e6:g} megapixels" if m else "its header"
        raise InputError(path, f"image is absurdly large: {size} (at most {max_side} px a side "
                               f"and {max_pixels / 1e6:g} megapixels)") from None
    except UnidentifiedImageError:
        raise InputError(path, "not an image (unrecognised file format)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"cannot read image: {exc}") from None


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in im.info)
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
        a = rgba[..., 3:4] / 255.0
        out = rgba[..., :3] * a + 255.0 * (1.0 - a)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_image(path: str | Path, *, min_side: int = 256, max_side: int = 8192,
               max_pixels: int = 40_000_000) -> np.ndarray:
    """The image at `path` as RGB uint8 H x W x 3 (EXIF orientation applied, alpha on white)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if not path.is_file():
        raise InputError(path, "not a file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "file is not readable (permission denied)")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    im = _header(path, max_side, max_pixels)
    try:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise InputError(path, f"image has an invalid size {w}x{h}")
        if max(w, h) > max_side or w * h > max_pixels:
            raise InputError(path, f"image is too large: {w}x{h} (at most {max_side} px a side "
                                   f"and {max_pixels / 1e6:g} megapixels)")
        if min(w, h) < min_side:
            raise InputError(path, f"image is too small: {w}x{h} (the shorter side must be at "
                                   f"least {min_side} px)")
        try:
            im.load()
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
        except InputError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            detail = str(exc).split("\n")[0] or type(exc).__name__
            raise InputError(path, f"image is truncated or corrupt ({detail})") from None
    finally:
        im.close()
    return np.ascontiguousarray(rgb)


def _coverage(mask: np.ndarray) -> float:
    return float((mask > 0.5).mean())


def validate_person_photo(path: str | Path) -> PersonPhotoSummary:
    """Load a person photo and check that it shows a person with a visible face."""
    from vidpipe.render.embedded import landmarks as lm

    rgb = load_image(path)
    h, w = rgb.shape[:2]
    coverage = _coverage(lm.selfie_mask(rgb))
    pose = lm.detect_pose(rgb)
    faces = lm.detect_faces(rgb)
    shoulders = pose is not None and pose.visible(lm.L_SHOULDER) and pose.visible(lm.R_SHOULDER)
    no_person = "no person found (need a photo of one person facing the camera)"
    if coverage < _MIN_PERSON_COVERAGE:
        raise InputError(path, no_person)
    if not faces:
        # A large person-shaped mask without a face is someone seen from behind or with the
        # face hidden; a small stray mask with neither a pose nor a face is not a person.
        if pose is None and coverage < 3 * _MIN_PERSON_COVERAGE:
            raise InputError(path, no_person)
        raise InputError(path, "no face found (the person must face the camera)")
    if pose is None or not shoulders:
        raise InputError(path, "no shoulders found (the photo must show the head and shoulders)")
    x0, y0, x1, y1, score = faces[0]
    full_body = False
    if pose is not None:
        ankles = [lm.L_ANKLE, lm.R_ANKLE]
        full_body = all(pose.visible(i) and 0 <= pose.points[i][1] < h for i in ankles)
    return PersonPhotoSummary(
        width=w, height=h, person_coverage=round(coverage, 4),
        face_box=(float(x0), float(y0), float(x1), float(y1)), face_score=float(score),
        pose_found=pose is not None, shoulders_visible=bool(shoulders), full_body=full_body)


def garment_mask(rgb: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mask uint8 0/1 of the garment, background RGB float) of a flat shot.

    The background is estimated from the border; pixels far from it in Lab seed a grabCut
    that refines the separation. Holes are filled and only the largest piece is kept.
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, 384.0 / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1 else rgb.copy()
    sh, sw = small.shape[:2]
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = max(2, min(sh, sw) // 40)
    border = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3),
                             lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)])
    bg_lab = np.median(border, axis=0)
    def bg_distance(x: np.ndarray) -> np.ndarray:
        # darker-than-background pixels of the background's own chroma are its shadows:
        # their lightness difference counts less than a colour or a brightening
        d = x - bg_lab
        wl = np.where(d[..., 0] < 0, 0.4, 1.0)
        return np.sqrt((d[..., 0] * wl) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)

    spread = np.percentile(bg_distance(border), 95)
    dist = bg_distance(lab)
    dist = cv2.GaussianBlur(dist, (0, 0), 1.0)
    thr = max(12.0, 2.5 * float(spread))
    fg = (dist > thr).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    if fg.sum() > 50:
        gc = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
        gc[dist > thr * 0.6] = cv2.GC_PR_FGD
        gc[cv2.erode(fg, np.ones((5, 5), np.uint8)) > 0] = cv2.GC_FGD
        gc[dist < thr * 0.25] = cv2.GC_BGD
        gc[:b], gc[-b:], gc[:, :b], gc[:, -b:] = (cv2.GC_BGD,) * 4
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(int(seed))
        try:
            cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, 2,
                        cv2.GC_INIT_WITH_MASK)
            fg = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        except cv2.error:
            pass
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, 8)
    if n > 1:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        fg = (labels == biggest).astype(np.uint8)
    # fill holes: everything not reachable from the border through background
    inv = (1 - fg).astype(np.uint8)
    n, labels = cv2.connectedComponents(inv, connectivity=4)
    edge_labels = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0],
                                                labels[:, -1]]))) - {0}
    holes = (labels > 0) & ~np.isin(labels, list(edge_labels))
    fg[holes] = 1
    if scale < 1:
        fg = (cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5)
        fg = fg.astype(np.uint8)
    bg_rgb = cv2.cvtColor(bg_lab.reshape(1, 1, 3).clip(0, 255).astype(np.uint8),
                          cv2.COLOR_LAB2RGB).reshape(3).astype(np.float32)
    return fg, bg_rgb


def validate_garment_photo(path: str | Path) -> GarmentPhotoSummary:
    """Load a garment flat shot and check that the garment separates from the background."""
    rgb = load_image(path)
    h, w = rgb.shape[:2]
    mask, bg = garment_mask(rgb)
    cov = float(mask.mean())
    if cov < _MIN_GARMENT_COVERAGE:
        raise InputError(path, "no garment found (need a flat shot of one garment on a plain, "
                               "light background)")
    if cov > _MAX_GARMENT_COVERAGE:
        raise InputError(path, "garment cannot be separated from the background (need a flat "
                               "shot on a plain, light background)")
    ys, xs = np.nonzero(mask)
    touches = sum([xs.min() == 0, ys.min() == 0, xs.max() == w - 1, ys.max() == h - 1])
    if touches >= 3:
        raise InputError(path, "garment cannot be separated from the background (it runs off "
                               "the edges of the photo)")
    mean = rgb[mask > 0].reshape(-1, 3).mean(axis=0)
    return GarmentPhotoSummary(
        width=w, height=h, garment_coverage=round(cov, 4),
        garment_box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
        background_rgb=tuple(int(round(v)) for v in bg),
        garment_rgb=tuple(int(round(v)) for v in mean))


def validate_scene_photo(path: str | Path) -> ScenePhotoSummary:
    """Load a scene photo; any readable image of a sensible size is a usable scene."""
    from vidpipe.render.embedded import landmarks as lm

    rgb = load_image(path)
    h, w = rgb.shape[:2]
    luma = (rgb.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)) / 255.0
    if float(luma.std()) < 0.004:
        raise InputError(path, "scene photo is a flat single colour")
    orientation = "square" if abs(w - h) <= 0.02 * max(w, h) else (
        "portrait" if h > w else "landscape")
    return ScenePhotoSummary(width=w, height=h, orientation=orientation,
                             mean_brightness=round(float(luma.mean()), 4),
                             person_coverage=round(_coverage(lm.selfie_mask(rgb)), 4))
