"""Mouth opening: strong change where mouth_open is high, none where it is 0."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.media.features import FrameFeatures
from vidpipe.media.video import ClipWriter, iter_frames, probe_video
from vidpipe.render.embedded import landmarks as lm
from vidpipe.render.embedded.lipsync import apply_lipsync, open_mouth
from vidpipe_tests.render.embedded.video_fixtures import face_frame

FPS = 25
MOUTH = np.array([0] * 5 + [1.0] * 5 + [0] * 5 + [0.5] * 3 + [0] * 2, np.float32)


def _features(mouth: np.ndarray) -> FrameFeatures:
    z = np.zeros_like(mouth)
    return FrameFeatures(fps=FPS, first_frame=0, energy=mouth.copy(), voiced=(mouth > 0) * 1.0,
                         mouth_open=mouth, emphasis=z)


@pytest.fixture(scope="module")
def face():
    frame = face_frame(192)
    mesh = lm.detect_face_mesh(frame)
    assert mesh is not None
    return frame, mesh.points


@pytest.fixture(scope="module")
def clip(face, tmp_path_factory):
    path = tmp_path_factory.mktemp("lip") / "in.mp4"
    with ClipWriter(path, (192, 192), FPS) as w:
        for _ in range(len(MOUTH)):
            w.write(face[0])
    return path


def _mouth_box(points: np.ndarray):
    lips = points[lm.OUTER_LIPS]
    x0, y0 = lips.min(axis=0)
    x1, y1 = lips.max(axis=0)
    pad = 0.3 * (x1 - x0)
    return slice(int(y0 - pad), int(y1 + 2 * pad)), slice(int(x0 - pad), int(x1 + pad))


def test_mouth_opens_with_features(clip, face, tmp_path):
    out = tmp_path / "out.mp4"
    res = apply_lipsync(clip, _features(MOUTH), out)
    assert res.n_frames == len(MOUTH) and res.n_no_face == 0
    assert res.n_opened == int((MOUTH > 0).sum())
    assert probe_video(out).n_frames == len(MOUTH)
    by, bx = _mouth_box(face[1])
    diffs = [float(np.abs(a[by, bx].astype(int) - b[by, bx].astype(int)).mean())
             for a, b in zip(iter_frames(clip), iter_frames(out))]
    open_d = [d for d, m in zip(diffs, MOUTH) if m == 1.0]
    half_d = [d for d, m in zip(diffs, MOUTH) if m == 0.5]
    closed_d = [d for d, m in zip(diffs, MOUTH) if m == 0]
    # Closed frames differ only by re-encoding noise (~2 levels in this textured box).
    assert max(closed_d) < 3.0
    assert min(open_d) > 4 * max(closed_d)
    assert 2 * max(closed_d) < min(half_d) and max(half_d) < min(open_d)


def test_open_mouth_darkens_the_gap_and_keeps_the_rest(face):
    frame, pts = face
    out = open_mouth(frame, pts, 1.0)
    # The cavity darkens the middle of the mouth; far from the mouth nothing changes.
    c = 0.5 * (pts[lm.LIP_UPPER_INNER] + pts[lm.LIP_LOWER_INNER])
    wm = float(np.linalg.norm(pts[lm.MOUTH_RIGHT] - pts[lm.MOUTH_LEFT]))
    by = slice(int(c[1]), int(c[1] + 0.25 * wm))
    bx = slice(int(c[0] - 0.25 * wm), int(c[0] + 0.25 * wm))
    assert out[by, bx].mean() < frame[by, bx].mean() - 40
    assert np.array_equal(out[:40], frame[:40])
    assert open_mouth(frame, pts, 0.0) is frame


def test_frames_without_a_face_pass_through(tmp_path):
    path = tmp_path / "noface.mp4"
    yy, xx = np.mgrid[0:96, 0:160]
    still = np.dstack([100 + xx // 2, 90 + yy, 150 - xx // 3]).astype(np.uint8)
    with ClipWriter(path, (160, 96), FPS) as w:
        for _ in range(8):
            w.write(still)
    res = apply_lipsync(path, _features(np.ones(8, np.float32)), tmp_path / "o.mp4")
    assert res.n_frames == 8 and res.n_no_face == 8 and res.n_opened == 0
    for a, b in zip(iter_frames(path), iter_frames(tmp_path / "o.mp4")):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0  # re-encoding only


def test_reference_face_and_short_features(clip, tmp_path):
    # Fewer feature frames than clip frames: the rest stay closed; a reference face is used
    # for the lip tint only.
    n = 8
    res = apply_lipsync(clip, _features(MOUTH[:n]), tmp_path / "r.mp4",
                        reference_face=face_frame(256))
    assert res.n_frames == len(MOUTH)
    assert res.n_opened == int((MOUTH[:n] > 0).sum())
