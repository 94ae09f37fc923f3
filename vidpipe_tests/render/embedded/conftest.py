"""Shared fixtures for the embedded backend's image stages.

Tiny synthetic images (made here, deterministic) and the demo inputs from
vidpipe/demo/images.py; the expensive results (try-on, matte, composite of the demo) are
computed once per session.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidpipe.demo.images import demo_garment, demo_person, demo_scene


@pytest.fixture(scope="session")
def person_rgb() -> np.ndarray:
    return demo_person()


@pytest.fixture(scope="session")
def garment_rgb() -> np.ndarray:
    return demo_garment()


@pytest.fixture(scope="session")
def scene_rgb() -> np.ndarray:
    return demo_scene()


def make_ground_plane(w: int = 320, h: int = 240, horizon: float = 0.4) -> np.ndarray:
    """Sky gradient above a tiled floor in perspective that converges on the horizon."""
    img = np.zeros((h, w, 3), np.float32)
    hy = int(horizon * h)
    t = np.linspace(0, 1, hy)[:, None, None]
    img[:hy] = (1 - t) * np.array([70, 120, 200]) + t * np.array([170, 200, 230])
    yy, xx = np.mgrid[hy:h, 0:w].astype(np.float32)
    z = 1.0 / ((yy - hy + 1.0) / (h - hy))  # distance along the floor
    u = (xx - w / 2) * z / w * 4.0
    checker = ((np.floor(u) + np.floor(z * 2.0)) % 2).astype(np.float32)
    floor = 90 + 80 * checker
    img[hy:] = np.stack([floor * 0.9, floor * 0.8, floor * 0.7], axis=2)
    # converging floor lines to the vanishing point
    out = np.clip(img, 0, 255).astype(np.uint8)
    for x in np.linspace(-w, 2 * w, 13):
        cv2.line(out, (w // 2, hy), (int(x), h - 1), (40, 35, 30), 2)
    return out


@pytest.fixture(scope="session")
def ground_plane() -> np.ndarray:
    return make_ground_plane()


@pytest.fixture(scope="session")
def tiny_tshirt() -> np.ndarray:
    """A small T-shirt silhouette on white (no texture) for layout tests."""
    img = np.full((320, 256, 3), 246, np.uint8)
    pts = np.array([[100, 60], [40, 110], [62, 135], [85, 120], [85, 290], [171, 290],
                    [171, 120], [194, 135], [216, 110], [156, 60], [140, 70], [116, 70]],
                   np.int32)
    cv2.fillPoly(img, [pts], (200, 40, 60))
    return img


@pytest.fixture(scope="session")
def demo_tryon(person_rgb, garment_rgb):
    from vidpipe.render.embedded.tryon import try_on

    return try_on(person_rgb, garment_rgb, seed=0)


@pytest.fixture(scope="session")
def demo_matte(person_rgb) -> np.ndarray:
    from vidpipe.render.embedded.matte import person_matte

    return person_matte(person_rgb)


@pytest.fixture(scope="session")
def demo_cutout(demo_tryon) -> np.ndarray:
    from vidpipe.render.embedded.matte import cutout, person_matte

    return cutout(demo_tryon.image, person_matte(demo_tryon.image))


@pytest.fixture(scope="session")
def demo_scene_analysis(scene_rgb):
    from vidpipe.analysis.scene import analyze_scene

    return analyze_scene(scene_rgb)


@pytest.fixture(scope="session")
def demo_depth(scene_rgb):
    from vidpipe.render.embedded.depth import estimate_depth

    return estimate_depth(scene_rgb)
