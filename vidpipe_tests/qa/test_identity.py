"""dlib face descriptors: the same face stays close, another face is far."""

import cv2
import numpy as np
import pytest

from vidpipe.qa import identity
from vidpipe_tests.qa.conftest import astronaut


@pytest.fixture(scope="module")
def reference():
    return identity.face_descriptor(astronaut())


def _jpeg(image, quality):
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def test_same_face_flipped_scaled_compressed_is_close(reference):
    a = astronaut()
    variant = _jpeg(cv2.resize(np.ascontiguousarray(a[:, ::-1]), None, fx=0.6, fy=0.6,
                               interpolation=cv2.INTER_AREA), 40)
    assert identity.distance(identity.face_descriptor(variant), reference) < 0.4


def test_another_face_is_far(reference):
    from skimage.data import camera

    other = cv2.cvtColor(cv2.resize(camera(), None, fx=2, fy=2), cv2.COLOR_GRAY2RGB)
    d = identity.face_descriptor(other)
    assert d is not None
    assert identity.distance(d, reference) > 0.6


def test_small_face_in_a_frame_via_its_mesh_box(reference):
    frame = np.full((720, 1280, 3), 60, np.uint8)
    face = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frame[300:556, 900:1156] = face  # face ~ 45 px wide
    box = (900 + 179 * 0.5, 300 + 71 * 0.5, 900 + 271 * 0.5, 300 + 177 * 0.5)  # her mesh box
    d = identity.face_descriptor(frame, box)
    assert d is not None and identity.distance(d, reference) < 0.4


def test_no_face_is_none():
    assert identity.face_descriptor(np.full((300, 300, 3), 128, np.uint8)) is None


def test_trend_is_the_slope_per_segment():
    assert identity.trend([0.2, 0.25, 0.3, None, 0.4]) == pytest.approx(0.05)
    assert identity.trend([0.2, 0.3]) is None  # two points are not a trend
