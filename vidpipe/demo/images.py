"""The demo's person, garment and scene: license-clean, bundled or made here, deterministic.

- Person: `skimage.data.astronaut()`, the official NASA portrait of astronaut Eileen Collins
  (NASA image, public domain in the United States; shipped inside scikit-image's data folder).
- Scene: `skimage.data.rocket()`, a SpaceX Falcon 9 on its launch pad at dusk, released by
  SpaceX into the public domain (CC0 on their Flickr stream; shipped inside scikit-image).
- Garment: a short-sleeve T-shirt flat shot drawn procedurally below (no source image).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

GARMENT_SIZE = (768, 1024)  # width, height
GARMENT_FABRIC_RGB = (22, 128, 96)  # saturated emerald
GARMENT_PRINT_RGB = (250, 214, 60)  # warm yellow print
GARMENT_BACKGROUND_RGB = (244, 242, 237)  # off-white


def demo_person() -> np.ndarray:
    """NASA portrait of Eileen Collins (public domain), 512 x 512 RGB uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


def demo_scene() -> np.ndarray:
    """Falcon 9 on the launch pad at dusk (SpaceX, public domain), 640 x 427 RGB uint8."""
    from skimage import data

    return np.ascontiguousarray(data.rocket()[..., :3])


def _shirt_polygons(ss: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outline, neck opening, back-neck) polygons in supersampled pixels."""
    cx = 384.0

    def arc(x0, x1, y_end, y_mid, n=24):
        t = np.linspace(0.0, 1.0, n)
        xs = x0 + (x1 - x0) * t
        ys = y_end + (y_mid - y_end) * np.sin(np.pi * t)
        return np.stack([xs, ys], 1)

    left = np.array([
        [218, 262],   # shoulder seam
        [92, 424],    # sleeve top edge to the cuff
        [170, 498],   # cuff inner corner
        [226, 440],   # armpit
        [222, 620],   # side
        [212, 812],   # hem corner
    ], np.float64)
    right = left.copy()
    right[:, 0] = 2 * cx - right[:, 0]
    hem = arc(212, 2 * cx - 212, 812, 822)
    neck_back = arc(2 * cx - 304, 304, 236, 228)  # back collar: right to left, a little up
    outline = np.concatenate([
        [[304, 236]], left, hem[1:-1], right[::-1], neck_back[:-1]])
    front_neck = arc(308, 2 * cx - 308, 240, 312)
    back_inner = np.concatenate([arc(308, 2 * cx - 308, 240, 233), front_neck[::-1]])
    return outline * ss, front_neck * ss, back_inner * ss


def demo_garment() -> np.ndarray:
    """A short-sleeve T-shirt flat shot: emerald jersey with a woven texture, a yellow chest
    stripe pair and a round badge, on an off-white background with a soft shadow.
    768 x 1024 RGB uint8, identical on every call."""
    return _demo_garment().copy()


@lru_cache(maxsize=1)
def _demo_garment() -> np.ndarray:
    W, H = GARMENT_SIZE
    ss = 2
    outline, front_neck, back_inner = _shirt_polygons(ss)
    big = np.zeros((H * ss, W * ss), np.uint8)
    cv2.fillPoly(big, [np.round(outline).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    mask = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    inner = np.zeros_like(big)
    cv2.fillPoly(inner, [np.round(back_inner).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    inner = cv2.resize(inner, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    rng = np.random.default_rng(20240607)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    # woven jersey: fine thread grid + yarn noise + a few soft folds
    weave = (0.035 * np.sin(xx * np.pi / 1.5) * np.sin(yy * np.pi / 2.0)
             + 0.02 * np.sin((xx + yy) * np.pi / 3.0))
    yarn = cv2.GaussianBlur(rng.normal(0.0, 0.05, (H, W)).astype(np.float32), (0, 0), 0.7)
    folds = 0.06 * np.sin(xx / 37.0 + np.sin(yy / 90.0) * 2.0) * np.exp(-((yy - 650) / 200) ** 2)
    light = 1.0 + 0.05 * (1.0 - yy / H) - 0.04 * np.abs(xx - 384) / 384
    shade = (1.0 + weave + yarn + folds) * light
    fabric = np.array(GARMENT_FABRIC_RGB, np.float32)[None, None, :] * shade[..., None]
    # print: two chest stripes and a round badge, slightly textured by the weave
    pr = np.zeros((H, W), np.float32)
    for y0 in (500, 538):
        pr[y0:y0 + 20, :] = 1.0
    cv2.circle(pr, (476, 376), 34, 1.0, -1, lineType=cv2.LINE_AA)
    cv2.circle(pr, (476, 376), 22, 0.0, -1, lineType=cv2.LINE_AA)
    cv2.circle(pr, (476, 376), 12, 1.0, -1, lineType=cv2.LINE_AA)
    pr = cv2.GaussianBlur(pr, (0, 0), 0.6)
    printed = np.array(GARMENT_PRINT_RGB, np.float32)[None, None, :] * (1.0 + 0.6 * weave)[..., None]
    fabric = fabric * (1 - pr[..., None]) + printed * pr[..., None]
    # back of the neck seen through the front neckline: darker, and a rib collar edge
    fabric *= (1.0 - 0.35 * inner)[..., None]
    rib = np.zeros((H * ss, W * ss), np.uint8)
    cv2.polylines(rib, [np.round(front_neck).astype(np.int32)], False, 255, 12 * ss,
                  lineType=cv2.LINE_AA)
    rib = cv2.resize(rib, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    fabric *= (1.0 - 0.18 * rib * (1.0 + np.sin(xx * np.pi / 2.0) * 0.5))[..., None]
    # hem and cuff stitching: a thin darker line just inside the outline
    inside = cv2.erode((mask > 0.5).astype(np.uint8), np.ones((15, 15), np.uint8))
    inside2 = cv2.erode(inside, np.ones((5, 5), np.uint8))
    stitch = (inside > 0) & (inside2 == 0) & (yy > 430)
    stitch &= (np.sin(xx * np.pi / 3.0) > -0.2)
    fabric[stitch] *= 0.8
    # background with a soft drop shadow
    bg = np.array(GARMENT_BACKGROUND_RGB, np.float32)[None, None, :] * np.ones((H, W, 1), np.float32)
    bg *= (1.0 - 0.03 * (yy / H))[..., None]
    shadow = cv2.GaussianBlur(np.roll(np.roll(mask, 10, axis=0), 7, axis=1), (0, 0), 12.0)
    bg *= (1.0 - 0.22 * shadow)[..., None]
    bg += rng.normal(0.0, 0.8, (H, W, 1)).astype(np.float32)
    out = fabric * mask[..., None] + bg * (1.0 - mask[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def write_demo_inputs(folder: str | Path) -> dict[str, Path]:
    """Write person.png, garment.png and scene.jpg into `folder`; returns their paths."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"person": folder / "person.png", "garment": folder / "garment.png",
             "scene": folder / "scene.jpg"}
    Image.fromarray(demo_person()).save(paths["person"], format="PNG", optimize=False)
    Image.fromarray(demo_garment()).save(paths["garment"], format="PNG", optimize=False)
    Image.fromarray(demo_scene()).save(paths["scene"], format="JPEG", quality=92,
                                       subsampling=0)
    return paths
