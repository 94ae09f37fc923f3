"""Garment colour: palette of the flat shot, torso region from pose, CIEDE2000."""

import cv2
import numpy as np
import pytest

from vidpipe.qa import garment
from vidpipe.render.embedded.landmarks import PoseLandmarks
from vidpipe_tests.qa.conftest import astronaut

NAVY, SKY = (35, 40, 80), (170, 205, 235)


def flat_shot(body=NAVY, yoke=None) -> np.ndarray:
    """A T-shirt shape on a light-grey background; `yoke` colours its top third."""
    img = np.full((512, 384, 3), 236, np.uint8)
    shirt = np.zeros(img.shape[:2], np.uint8)
    cv2.rectangle(shirt, (112, 90), (272, 460), 1, -1)
    cv2.rectangle(shirt, (60, 90), (324, 190), 1, -1)
    img[shirt > 0] = body
    if yoke is not None:
        img[(shirt > 0) & (np.arange(512)[:, None] < 200)] = yoke
    return img


def test_one_colour_garment_is_one_palette_colour():
    colours = garment.garment_colours(flat_shot())
    assert len(colours.lab) == 1
    assert colours.lab[0] == pytest.approx(garment._lab(np.array(NAVY, np.uint8))[0], abs=1.5)


def test_two_colour_garment_keeps_both():
    colours = garment.garment_colours(flat_shot(yoke=SKY))
    assert len(colours.lab) == 2
    assert 0.2 < colours.share.min() < 0.45


def test_shades_of_one_fabric_are_one_colour():
    lab = garment._lab(np.array([[[int(35 * f), int(40 * f), int(80 * f)]
                                  for f in np.linspace(0.6, 1.6, 200)]], np.uint8))
    assert len(garment.palette(lab).lab) == 1


def _worn(colour, tint=(0, 0, 0)):
    img = np.full((300, 200, 3), 200, np.uint8)
    mask = np.zeros((300, 200), np.uint8)
    mask[80:220, 50:150] = 1
    img[mask > 0] = np.clip(np.array(colour) + np.array(tint), 0, 255)
    return img, mask


def test_delta_e_small_for_the_same_colour_large_for_a_tint():
    colours = garment.garment_colours(flat_shot())
    img, mask = _worn(NAVY)
    assert garment.garment_delta_e(colours, img, mask) < 1.5
    img, mask = _worn(NAVY, tint=(45, 0, -20))
    assert garment.garment_delta_e(colours, img, mask) > 6


def test_torso_showing_one_colour_of_a_two_colour_garment_is_not_penalised():
    colours = garment.garment_colours(flat_shot(yoke=SKY))
    img, mask = _worn(NAVY)
    assert garment.garment_delta_e(colours, img, mask) < 2
    img, mask = _worn((130, 40, 40))  # red: matched to navy, far from it
    assert garment.garment_delta_e(colours, img, mask) > 6


def _pose(points: dict[int, tuple[float, float]]) -> PoseLandmarks:
    p = np.zeros((33, 2), np.float32)
    v = np.zeros(33, np.float32)
    for i, xy in points.items():
        p[i], v[i] = xy, 1.0
    return PoseLandmarks(points=p, visibility=v)


def test_torso_mask_is_inside_the_body_and_skips_the_arms():
    pose = _pose({11: (260, 100), 12: (140, 100), 23: (245, 300), 24: (155, 300),
                  13: (230, 200), 14: (170, 200)})  # elbows folded in front of the belly
    m = garment.torso_mask((400, 400), pose)
    ys, xs = np.nonzero(m)
    assert ys.min() > 120 and ys.max() < 290 and xs.min() > 155 and xs.max() < 250
    assert m[150, 240] == 0  # on the left upper arm line (shoulder -> elbow)
    assert m[250, 200] == 1


def test_torso_of_a_real_photo_is_below_the_face():
    image = astronaut()
    m = garment.image_torso(image)
    assert m is not None and m.sum() > 2000
    assert np.nonzero(m)[0].min() > 200  # her chin is at y ~ 180
