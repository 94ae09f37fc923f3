"""Person matte and decontaminated cut-out."""

from __future__ import annotations

import numpy as np

from vidpipe.render.embedded import landmarks as lm
from vidpipe.render.embedded.matte import cutout


def test_matte_covers_person_not_background(person_rgb, demo_matte):
    a = demo_matte
    assert a.shape == person_rgb.shape[:2] and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    x0, y0, x1, y1, _ = lm.detect_faces(person_rgb)[0]
    face = a[int(y0) + 10:int(y1) - 10, int(x0) + 10:int(x1) - 10]
    assert face.mean() > 0.97
    # the studio backdrop above the head and beside it is background
    assert a[0:8, 160:300].mean() < 0.05
    assert a[40:120, 330:360].mean() < 0.05
    # the torso (orange suit below the shoulders) is person
    assert a[300:400, 150:280].mean() > 0.97
    # soft edge: some fractional alpha exists on the outline, but not much of it
    frac = ((a > 0.05) & (a < 0.95)).mean()
    assert 0.001 < frac < 0.05


def test_cutout_decontaminates_edge():
    """A red disc over grey with a soft edge: the cut-out's edge colour is red, not grey."""
    h = w = 300
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(xx - 150, yy - 150)
    alpha = np.clip((100 - r) / 6 + 0.5, 0, 1).astype(np.float32)
    fg = np.array([220, 30, 30], np.float32)
    bg = np.array([170, 170, 170], np.float32)
    img = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.uint8)
    rgba = cutout(img, alpha)
    assert rgba.shape == (h, w, 4) and rgba.dtype == np.uint8
    assert np.abs(rgba[..., 3].astype(int) - np.round(alpha * 255).astype(int)).max() <= 1
    edge = (alpha > 0.15) & (alpha < 0.85)
    naive_green = img[edge][:, 1].astype(float).mean()
    clean = rgba[edge][:, :3].astype(float)
    assert clean[:, 1].mean() < 60 < naive_green  # the grey no longer bleeds in
    assert np.abs(clean - fg).mean() < 20
    # composited over black, no light rim appears
    over = rgba[..., :3] * (rgba[..., 3:4] / 255.0)
    assert over[edge][:, 1].max() < 60


def test_cutout_of_demo_person(person_rgb, demo_matte):
    rgba = cutout(person_rgb, demo_matte)
    assert np.array_equal(rgba[..., :3][demo_matte >= 0.98], person_rgb[demo_matte >= 0.98])
