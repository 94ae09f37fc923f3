"""Mouth opening on frames, lip-sync correlation, A/V offset and closed-in-silence."""

import numpy as np
import pytest

from vidpipe.qa import mouth
from vidpipe.render.embedded import landmarks as lm
from vidpipe_tests.qa.conftest import face_with_mouth


def _opening(image):
    box = mouth.find_face_box(image)
    crop, _ = mouth.face_crop(image, box)
    return mouth.mouth_opening(lm.detect_face_mesh(crop).points)


def test_opening_grows_with_the_drawn_mouth():
    values = [_opening(face_with_mouth(h)) for h in (0, 6, 12, 20)]
    assert values[0] < 0.05
    assert all(b > a + 0.03 for a, b in zip(values, values[1:])), values


def test_opening_does_not_depend_on_face_size():
    import cv2

    face = face_with_mouth(14)
    small = cv2.resize(face, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert _opening(small) == pytest.approx(_opening(face), abs=0.06)


def test_meter_tracks_a_small_face_in_a_wide_frame():
    import cv2

    face = cv2.resize(face_with_mouth(16), (160, 160), interpolation=cv2.INTER_AREA)
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[150:310, 400:560] = face  # face ~ 32 px wide
    with mouth.MouthMeter() as meter:
        pts = [meter.points(frame) for _ in range(3)]
    assert all(p is not None for p in pts)
    assert 400 < pts[-1][:, 0].mean() < 560
    assert mouth.mouth_opening(pts[-1]) > 0.2


def test_best_lag_finds_a_known_shift():
    rng = np.random.default_rng(0)
    energy = np.convolve(rng.random(200), np.ones(5) / 5, mode="same").astype(np.float32)
    speech = np.ones(200, bool)
    for shift in (-2, 0, 3):
        opening = np.roll(energy, shift) * 0.4 + rng.normal(0, 0.005, 200)
        lag, r = mouth.best_lag(opening, energy, speech)
        assert lag == shift and r > 0.9
        if shift:
            assert mouth.lagged_corr(opening, energy, speech, 0) < r


def test_no_speech_no_score():
    x = np.zeros(50, np.float32)
    assert mouth.best_lag(x, x, np.zeros(50, bool)) == (None, None)
    assert mouth.lagged_corr(x, x, np.zeros(50, bool), 0) is None


def test_closed_threshold_is_capped_by_the_reference():
    opening = np.full(40, 0.3, np.float32)  # a video whose mouth never closes
    silent = np.ones(40, bool)
    thr_self = mouth.closed_threshold(opening, silent, silent, reference=None)
    thr_ref = mouth.closed_threshold(opening, silent, silent, reference=0.02)
    assert thr_self > 0.3  # left alone, it would call that mouth closed
    assert thr_ref == pytest.approx(0.02 + 2 * mouth.CLOSED_MARGIN)


def test_face_search_uses_the_person_region_of_a_720p_frame():
    import cv2

    face = cv2.resize(face_with_mouth(0), (200, 200), interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 70, np.uint8)
    frame[400:600, 800:1000] = face  # face ~ 36 px: too small for a whole-frame detection
    box = mouth.find_face_box(frame, region=(780, 380, 1020, 720))
    assert box is not None
    x0, y0, side = box
    assert 800 < x0 + side / 2 < 1000 and 400 < y0 + side / 2 < 600


def test_viseme_scores_compare_rounded_and_open_frames():
    classes = np.array(["open"] * 4 + ["rounded"] * 4 + ["closed"] * 4 + ["", "silence"])
    width = np.array([0.7, 0.68, 0.72, 0.7, 0.5, 0.52, np.nan, 0.5, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7])
    opening = np.array([0.3] * 8 + [0.1, 0.1, 0.12, 0.3, 0.3, 0.1])
    s = mouth.viseme_scores(width, opening, classes, threshold=0.15)
    assert s["rounded_frames"] == 3 and s["open_frames"] == 4 and s["bilabial_frames"] == 4
    assert s["rounded_width"] == pytest.approx(0.5) and s["open_width"] == pytest.approx(0.7)
    assert s["rounding_ratio"] == pytest.approx(0.5 / 0.7)
    assert s["bilabial_closed"] == pytest.approx(0.75)
    none = mouth.viseme_scores(width, opening, np.full(14, ""), threshold=0.15)
    assert none["rounding_ratio"] is None and none["bilabial_closed"] is None
    assert mouth.viseme_scores(width, opening, classes, None)["bilabial_closed"] is None
