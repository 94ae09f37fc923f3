"""Classical try-on of the demo garment onto the demo person."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from vidpipe.demo.images import GARMENT_FABRIC_RGB
from vidpipe.media.images import garment_mask
from vidpipe.render.embedded import landmarks as lm
from vidpipe.render.embedded.tryon import garment_colour_delta_e, garment_layout, try_on


def test_result_shapes(person_rgb, demo_tryon):
    r = demo_tryon
    assert r.image.shape == person_rgb.shape and r.image.dtype == np.uint8
    assert r.garment_mask.shape == person_rgb.shape[:2] and r.garment_mask.dtype == np.float32
    assert 0.0 <= r.garment_mask.min() and r.garment_mask.max() <= 1.0
    assert r.torso_polygon.shape == (4, 2)


def test_torso_wears_the_garment_colour(garment_rgb, demo_tryon):
    de = garment_colour_delta_e(demo_tryon, garment_rgb)
    print(f"torso vs flat-shot mean colour dE2000 = {de:.2f}")
    assert de < 6.0
    # and the orange suit is gone from the chest: its hue is far from the garment's
    poly = np.zeros(demo_tryon.garment_mask.shape, np.uint8)
    cv2.fillPoly(poly, [np.round(demo_tryon.torso_polygon).astype(np.int32)], 1)
    chest = demo_tryon.image[(poly > 0) & (demo_tryon.garment_mask > 0.9)]
    lab = rgb2lab(chest.reshape(-1, 1, 3) / 255.0).reshape(-1, 3).mean(axis=0)
    fabric = rgb2lab(np.array(GARMENT_FABRIC_RGB, float).reshape(1, 1, 3) / 255).reshape(3)
    assert deltaE_ciede2000(lab, fabric) < 12
    assert lab[1] < -10  # green, not orange


def test_garment_covers_the_torso(demo_tryon):
    poly = np.zeros(demo_tryon.garment_mask.shape, np.uint8)
    cv2.fillPoly(poly, [np.round(demo_tryon.torso_polygon).astype(np.int32)], 1)
    inside = demo_tryon.garment_mask[poly > 0]
    assert (inside > 0.5).mean() > 0.6


def test_face_and_background_unchanged(person_rgb, demo_tryon):
    x0, y0, x1, y1, _ = lm.detect_faces(person_rgb)[0]
    face = (slice(int(y0), int(y1)), slice(int(x0), int(x1)))
    diff = np.abs(demo_tryon.image[face].astype(int) - person_rgb[face].astype(int))
    assert diff.mean() < 1.0
    assert demo_tryon.garment_mask[face].max() < 0.05
    # far background (top corners) untouched
    assert np.array_equal(demo_tryon.image[:40, :40], person_rgb[:40, :40])
    assert np.array_equal(demo_tryon.image[:40, -40:], person_rgb[:40, -40:])


def test_deterministic(person_rgb, garment_rgb, demo_tryon):
    again = try_on(person_rgb, garment_rgb, seed=0)
    assert np.array_equal(again.image, demo_tryon.image)
    assert np.array_equal(again.garment_mask, demo_tryon.garment_mask)


def test_layout_of_a_tshirt(tiny_tshirt):
    m, bg = garment_mask(tiny_tshirt)
    assert np.abs(bg - 246).max() < 3
    lay = garment_layout(m)
    assert set(lay.sleeves) == {"l", "r"}
    assert lay.shoulder_l[0] < lay.shoulder_r[0]
    assert lay.top < lay.shoulder_l[1] < lay.armpit_y < lay.hem_y
    assert abs(lay.hem_y - 290) <= 3
    assert abs(lay.left[-1] - 85) <= 4 and abs(lay.right[-1] - 171) <= 4
    # each sleeve reaches out to its cuff
    assert lay.sleeves["l"][1:3, 0].min() < 60 and lay.sleeves["r"][1:3, 0].max() > 196


def test_layout_of_the_demo_garment(garment_rgb):
    m, _ = garment_mask(garment_rgb)
    lay = garment_layout(m)
    assert set(lay.sleeves) == {"l", "r"}
    assert abs(lay.hem_y - 815) < 15
    assert 420 < lay.armpit_y < 480
