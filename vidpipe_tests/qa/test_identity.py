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


def _boxes(detector, image):
    return [(r.left(), r.top(), r.right(), r.bottom()) for r in detector(image, 1)]


def test_the_kept_face_detector_finds_what_dlibs_own_finds(tmp_path, monkeypatch):
    import dlib

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = identity._frontal_face_detector()  # builds it and keeps the binary copy
    kept = list((tmp_path / "vidpipe").glob("dlib-*-frontal_face_detector.svm"))
    assert len(kept) == 1
    loaded = identity._frontal_face_detector()  # now read from that copy
    image = np.ascontiguousarray(astronaut()[..., :3])
    expected = _boxes(dlib.get_frontal_face_detector(), image)
    assert expected, "the test photo must hold a face"
    assert _boxes(built, image) == expected
    assert _boxes(loaded, image) == expected


def test_an_unreadable_kept_detector_is_rebuilt_and_says_so(tmp_path, monkeypatch, caplog):
    import dlib

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "vidpipe" / f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    path.parent.mkdir()
    path.write_bytes(b"not a detector")
    with caplog.at_level("WARNING", logger="vidpipe.qa.identity"):
        detector = identity._frontal_face_detector()
    assert "unreadable" in caplog.text and str(path) in caplog.text
    assert _boxes(detector, np.ascontiguousarray(astronaut()[..., :3]))
    assert path.stat().st_size > 100_000  # the good copy replaced the bad one
    assert dlib.fhog_object_detector(str(path)) is not None


def test_a_cache_that_cannot_be_written_still_gives_a_detector(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert _boxes(identity._frontal_face_detector(), np.ascontiguousarray(astronaut()[..., :3]))


def test_model_files_are_found_without_importing_their_package():
    import subprocess
    import sys

    code = ("import sys; from vidpipe.qa import identity; "
            "print(identity._model_file(identity.ENCODER_FILE)); "
            "print('face_recognition_models' in sys.modules, 'pkg_resources' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0].endswith("models/dlib_face_recognition_resnet_model_v1.dat")
    assert out[1] == "False False"


def test_a_missing_model_package_is_named(monkeypatch):
    monkeypatch.setattr(identity, "MODELS_PACKAGE", "no_such_models_package")
    with pytest.raises(FileNotFoundError, match="no_such_models_package.*not installed.*pip"):
        identity._model_file(identity.ENCODER_FILE)
