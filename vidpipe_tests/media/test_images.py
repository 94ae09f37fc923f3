"""load_image and the photo validators: good inputs load, every bad input is refused in one
line that names the problem. All inputs are synthetic or the project's demo images."""

from __future__ import annotations

import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from vidpipe.demo.images import demo_garment, demo_person, demo_scene, write_demo_inputs
from vidpipe.errors import InputError
from vidpipe.media.images import (load_image, validate_garment_photo, validate_person_photo,
                                  validate_scene_photo)


def _save(arr: np.ndarray, path, fmt=None, **kw):
    Image.fromarray(arr).save(path, format=fmt, **kw)
    return path


def test_load_png_rgb(tmp_path):
    p = _save(demo_person(), tmp_path / "p.png")
    img = load_image(p)
    assert img.dtype == np.uint8 and img.shape == (512, 512, 3)
    assert np.array_equal(img, demo_person())


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((300, 400, 3), np.uint8)
    arr[:40, :40] = (255, 0, 0)  # red marker in the stored top-left corner
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    p = tmp_path / "rot.jpg"
    im.save(p, format="JPEG", quality=95, exif=exif.tobytes())
    img = load_image(p)
    assert img.shape == (400, 300, 3)
    # after a 90 degree clockwise turn the marker is in the top-right corner
    assert img[:30, -30:, 0].mean() > 200 and img[:30, -30:, 1].mean() < 60


def test_alpha_is_flattened_on_white(tmp_path):
    rgba = np.zeros((300, 300, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[100:200, 100:200, 3] = 255
    p = _save(rgba, tmp_path / "a.png")
    img = load_image(p)
    assert tuple(img[10, 10]) == (255, 255, 255)
    assert tuple(img[150, 150]) == (200, 0, 0)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found") as e:
        load_image(tmp_path / "nope.jpg")
    assert "nope.jpg" in str(e.value)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture\n" * 20)
    with pytest.raises(InputError, match="not an image"):
        load_image(p)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(demo_person()).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(p)


def test_too_small(tmp_path):
    p = _save(np.full((80, 100, 3), 128, np.uint8), tmp_path / "small.png")
    with pytest.raises(InputError, match="too small") as e:
        load_image(p)
    assert "100x80" in str(e.value) and "256" in str(e.value)


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("w,h", [(100_000, 100_000), (9000, 300), (7000, 7000)])
def test_huge_header_is_refused_cheaply(tmp_path, w, h):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(w, h))
    t = time.perf_counter()
    with pytest.raises(InputError, match="too large|absurdly large") as e:
        load_image(p)
    assert time.perf_counter() - t < 1.0
    if w * h < 2 * Image.MAX_IMAGE_PIXELS:
        assert f"{w}x{h}" in str(e.value)


def test_validate_person_demo(tmp_path):
    p = _save(demo_person(), tmp_path / "person.png")
    s = validate_person_photo(p)
    assert s.width == 512 and s.height == 512
    assert s.pose_found and s.shoulders_visible and not s.full_body
    x0, y0, x1, y1 = s.face_box
    assert 150 < (x0 + x1) / 2 < 300 and 60 < (y0 + y1) / 2 < 200
    assert s.person_coverage > 0.2


def test_landscape_without_person(tmp_path):
    p = _save(demo_scene(), tmp_path / "scene.jpg", "JPEG", quality=92)
    with pytest.raises(InputError, match="no person"):
        validate_person_photo(p)


def test_person_without_face(tmp_path):
    """The demo person with the face painted over by hair (seen from behind)."""
    img = demo_person().copy()
    hair = img[22:58, 175:285]
    tile = np.tile(hair, (16, 5, 1))[:512, :512]
    mask = np.zeros((512, 512), np.uint8)
    cv2.ellipse(mask, (226, 122), (64, 72), 0, 0, 360, 1, -1)
    img[mask > 0] = tile[mask > 0]
    p = _save(img, tmp_path / "back.png")
    with pytest.raises(InputError, match="no face"):
        validate_person_photo(p)


def test_validate_garment_demo(tmp_path):
    p = _save(demo_garment(), tmp_path / "g.png")
    s = validate_garment_photo(p)
    assert 0.15 < s.garment_coverage < 0.5
    r, g, b = s.garment_rgb
    assert g > r + 40 and g > b  # the emerald fabric
    x0, y0, x1, y1 = s.garment_box
    assert x0 < 120 and x1 > 650 and y0 < 250 and y1 > 800


def test_garment_not_separable(tmp_path):
    flat = np.full((400, 300, 3), 240, np.uint8)
    p = _save(flat, tmp_path / "blank.png")
    with pytest.raises(InputError, match="no garment"):
        validate_garment_photo(p)


def test_validate_scene(tmp_path):
    p = _save(demo_scene(), tmp_path / "s.jpg", "JPEG", quality=92)
    s = validate_scene_photo(p)
    assert (s.width, s.height, s.orientation) == (640, 427, "landscape")
    assert 0.05 < s.mean_brightness < 0.6


def test_write_demo_inputs_roundtrip(tmp_path):
    paths = write_demo_inputs(tmp_path / "demo")
    assert set(paths) == {"person", "garment", "scene"}
    assert paths["person"].suffix == ".png" and paths["scene"].suffix == ".jpg"
    assert np.array_equal(load_image(paths["person"]), demo_person())
    assert np.array_equal(load_image(paths["garment"]), demo_garment())
    scene = load_image(paths["scene"])
    assert scene.shape == (427, 640, 3)
    assert np.abs(scene.astype(int) - demo_scene().astype(int)).mean() < 3
    again = write_demo_inputs(tmp_path / "again")
    for k in paths:
        assert paths[k].read_bytes() == again[k].read_bytes()
