"""Speech-driven body motion: frame count, static background, head motion, segment purity."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.media.video import iter_frames, probe_video
from vidpipe.render.embedded.motion import MotionRenderer, motion_params, render_motion
from vidpipe_tests.render.embedded.video_fixtures import (constant_features, make_layers,
                                                           slice_features, speech_features)

SIZE = (256, 144)
FPS = 25
N = 90  # 3.6 s: pause, burst with stress at 1.2 s and 2.0 s, pause from 2.6 s
SEED = 11


@pytest.fixture(scope="module")
def layers():
    return make_layers(SIZE, x_frac=0.4)


@pytest.fixture(scope="module")
def renderer(layers):
    return MotionRenderer(layers)


@pytest.fixture(scope="module")
def whole(layers, renderer, tmp_path_factory):
    out = tmp_path_factory.mktemp("motion") / "whole.mp4"
    feats = speech_features(N, FPS)
    return render_motion(layers, feats, out, seed=SEED, rig=renderer.rig), feats


def _far_from_person(layers) -> np.ndarray:
    occupied = (layers.person[..., 3] > 0) | (layers.shadow > 0)
    ys, xs = np.nonzero(occupied)
    far = np.ones(occupied.shape, bool)
    m = 12
    far[max(0, ys.min() - m):ys.max() + m, max(0, xs.min() - m):xs.max() + m] = False
    assert far.sum() > 0.3 * far.size
    return far


def _head_box(rig):
    x0, y0, x1, y1 = rig.face_box
    s = rig.face_size
    return slice(int(y0 - 0.3 * s), int(y1 + 0.2 * s)), slice(int(x0 - 0.3 * s), int(x1 + 0.3 * s))


def test_rig_found_on_person(renderer, layers):
    rig = renderer.rig
    assert rig.source == "face_mesh"
    assert 10 < rig.face_size < 60
    assert rig.head_top_y < rig.chin[1] < rig.pivot[1] < rig.shoulder_y < rig.base[1]


def test_clip_has_exact_frames_and_size(whole):
    res, feats = whole
    info = probe_video(res.path)
    assert info.n_frames == res.n_frames == feats.n_frames == N
    assert (info.width, info.height) == SIZE
    assert info.fps == pytest.approx(FPS)
    assert res.head_transforms.shape == (N, 2, 3)


def test_background_far_from_person_never_changes(whole, layers, renderer):
    res, feats = whole
    far = _far_from_person(layers)
    params = motion_params(feats, renderer.rig, SEED)
    for i in range(0, N, 7):  # exact, before encoding
        frame = renderer.frame(params[i])
        assert np.array_equal(frame[far], layers.background[far])
    frames = list(iter_frames(res.path))  # and after encoding: stable across frames
    ref = frames[0][far].astype(int)
    for f in frames[1:]:  # lossy coding: tiny, not systematic, differences
        diff = np.abs(f[far].astype(int) - ref)
        assert diff.max() <= 6 and diff.mean() < 0.3


def test_head_moves_with_emphasis_and_rests_in_pauses(renderer):
    rig = renderer.rig
    hy, hx = _head_box(rig)
    rest = renderer.static[hy, hx].astype(np.float32)
    feats = speech_features(N, FPS)
    params = motion_params(feats, rig, SEED)

    def head_diff(i):
        return float(np.abs(renderer.frame(params[i])[hy, hx].astype(np.float32) - rest).mean())

    emph = int(np.argmax(feats.emphasis))  # ~1.2 s
    assert feats.emphasis[emph] > 0.9
    assert params[emph, 0] > 2.0  # nod in degrees
    pause_early, pause_late = 10, N - 5  # 0.4 s and 3.4 s: silent
    assert feats.voiced[pause_early] == 0 and feats.voiced[pause_late] == 0
    moving, rest_a, rest_b = head_diff(emph), head_diff(pause_early), head_diff(pause_late)
    assert moving > 3.0 * max(rest_a, rest_b)
    assert moving > 2.0
    # In pauses only the faint idle motion is left.
    for i in (pause_early, pause_late):
        assert abs(params[i, 0]) < 0.5 and abs(params[i, 1]) < 0.5
        assert abs(params[i, 3]) < 0.005 * rig.body_height


def test_motion_is_smooth(whole, renderer):
    res, feats = whole
    pos = res.head_transforms[:, :, 2]  # head offsets per frame
    step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    assert step.max() < 0.1 * renderer.rig.face_size


def test_segment_alone_equals_whole(whole, layers, renderer, tmp_path):
    res, feats = whole
    a, b = 40, 75
    seg = slice_features(feats, a, b)
    seg_res = render_motion(layers, seg, tmp_path / "seg.mp4", seed=SEED, rig=renderer.rig)
    assert seg_res.n_frames == b - a
    assert np.allclose(seg_res.params, res.params[a:b])
    # Exact before encoding ...
    p_whole = motion_params(feats, renderer.rig, SEED)
    p_seg = motion_params(seg, renderer.rig, SEED)
    assert np.array_equal(renderer.frame(p_seg[5]), renderer.frame(p_whole[a + 5]))
    # ... and within encoding noise after.
    fw = list(iter_frames(res.path))[a + 5].astype(int)
    fs = list(iter_frames(seg_res.path))[5].astype(int)
    assert np.abs(fw - fs).mean() < 1.0


def test_frames_rendered_side_by_side_are_the_frames_rendered_one_by_one(renderer):
    """Threads have their own scratch maps: no frame sees another's."""
    params = motion_params(speech_features(N, FPS), renderer.rig, SEED)
    one_by_one = [renderer.frame(row) for row in params]
    assert len({f.tobytes() for f in one_by_one}) > N // 2  # the frames do differ
    for threads in (2, 3):
        side_by_side = list(renderer.frames(params, threads=threads))
        assert len(side_by_side) == N
        assert all(np.array_equal(a, b) for a, b in zip(side_by_side, one_by_one))


def test_deterministic_from_seed(renderer):
    feats = constant_features(20, FPS, first_frame=100, emphasis=0.8, voiced=1.0)
    p1 = motion_params(feats, renderer.rig, 3)
    assert np.array_equal(p1, motion_params(feats, renderer.rig, 3))
    assert not np.allclose(p1, motion_params(feats, renderer.rig, 4))


def test_weight_stays_at_the_base(renderer, layers):
    feats = constant_features(1, FPS, emphasis=1.0, voiced=1.0)
    params = motion_params(feats, renderer.rig, SEED)
    params[0, 3] = 0.03 * renderer.rig.body_height  # a large sway
    frame = renderer.frame(params[0])
    h = layers.size[1]
    assert np.array_equal(frame[h - 1], renderer.static[h - 1])  # the anchor row
    near = slice(h - 3, h)
    assert np.abs(frame[near].astype(int) - renderer.static[near].astype(int)).mean() < 0.2


def test_resize_to_requested_size(layers, tmp_path):
    feats = speech_features(6, FPS)
    res = render_motion(layers, feats, tmp_path / "s.mp4", seed=1, size=(192, 108))
    info = probe_video(res.path)
    assert (info.width, info.height, info.n_frames) == (192, 108, 6)


def _blob_layers():
    """A faceless silhouette: head disc + torso block; detection finds no face or pose."""
    import cv2

    from vidpipe.render.embedded.layers import CompositeLayers
    from vidpipe_tests.render.embedded.video_fixtures import synthetic_background

    w, h = SIZE
    person = np.zeros((h, w, 4), np.uint8)
    cv2.circle(person, (128, 30), 14, (200, 160, 140, 255), -1)
    cv2.rectangle(person, (104, 48), (152, h - 1), (60, 90, 160, 255), -1)
    return CompositeLayers(background=synthetic_background(w, h), person=person,
                           shadow=np.zeros((h, w), np.float32), anchor=(128.0, h - 1.0),
                           scale=1.0)


def test_faceless_person_uses_the_mask_rig(tmp_path):
    lay = _blob_layers()
    feats = speech_features(40, FPS)
    res = render_motion(lay, feats, tmp_path / "blob.mp4", seed=2)
    assert res.rig.source in ("mask", "pose")
    assert probe_video(res.path).n_frames == 40
    r = MotionRenderer(lay, rig=res.rig)
    p = motion_params(feats, res.rig, 2)
    emph = int(np.argmax(feats.emphasis))
    head = (slice(10, 50), slice(108, 150))
    assert np.abs(r.frame(p[emph])[head].astype(int) - r.static[head].astype(int)).mean() > 0.2
    assert np.abs(res.head_transforms[emph][:, 2]).max() > 1.0  # pixels


def test_empty_person_layer_gives_a_still_clip(tmp_path):
    lay = _blob_layers()
    lay.person[:] = 0
    res = render_motion(lay, speech_features(10, FPS), tmp_path / "empty.mp4", seed=2)
    assert res.n_frames == 10 and res.rig.source == "none"
    frames = list(iter_frames(res.path))
    assert all(np.array_equal(frames[0], f) for f in frames)


def test_rest_pose_frame_is_the_still_composite_pixel_for_pixel(renderer, layers):
    """The OpenCV blend of the moving region gives exactly compose()'s pixels, so a segment
    at rest shows the composite the user approved."""
    from vidpipe.render.embedded.layers import compose_layers

    assert renderer._fast, "the fast blend disagreed with compose() and was switched off"
    rest = renderer.frame(np.zeros(5))
    assert np.array_equal(rest, compose_layers(layers))


def test_rig_stored_with_the_layers_gives_the_same_clip_without_detection(layers, whole,
                                                                           tmp_path, monkeypatch):
    """The composite stage keeps the rig in the layers file; the motion stage then renders
    the very same frames without running the pose model."""
    from vidpipe.render.embedded import motion
    from vidpipe.render.embedded.layers import load_layers, save_layers

    rig = motion.layer_rig(layers)
    assert rig is not None
    layers.rig = rig.to_dict()
    try:
        save_layers(tmp_path / "layers.npz", layers)
    finally:
        layers.rig = None
    stored = load_layers(tmp_path / "layers.npz")
    assert motion.Rig.from_dict(stored.rig) == rig

    def no_detection(*a, **k):
        raise AssertionError("the stored rig was not used")

    monkeypatch.setattr(motion, "detect_rig", no_detection)
    res, feats = whole
    again = render_motion(stored, feats, tmp_path / "again.mp4", seed=SEED)
    assert again.rig == rig
    for a, b in zip(iter_frames(res.path), iter_frames(again.path), strict=True):
        assert np.array_equal(a, b)


def test_layers_without_a_rig_still_load_and_detect(layers, tmp_path):
    from vidpipe.render.embedded.layers import load_layers, save_layers

    save_layers(tmp_path / "old.npz", layers)
    old = load_layers(tmp_path / "old.npz")
    assert old.rig is None
    assert MotionRenderer(old).rig == MotionRenderer(layers).rig


def test_retry_seed_varies_the_inside_and_meets_the_neighbours_at_the_edges(renderer):
    """A retried segment has a seed of its own; its first and last frames keep the motion
    of the seed its neighbours used (`join_seed`), so the joins stay continuous."""
    from vidpipe.render.continuity import edge_weight

    feats = slice_features(speech_features(N, FPS), 10, 80)
    base = motion_params(feats, renderer.rig, SEED)
    other = motion_params(feats, renderer.rig, SEED + 1)
    retry = motion_params(feats, renderer.rig, SEED + 1, join_seed=SEED)
    assert np.array_equal(retry[0], base[0]) and np.array_equal(retry[-1], base[-1])
    mid = feats.n_frames // 2
    assert np.allclose(retry[mid], other[mid]) and not np.allclose(retry[mid], base[mid])
    assert np.array_equal(motion_params(feats, renderer.rig, SEED, join_seed=SEED), base)
    w = edge_weight(feats.n_frames, FPS)
    assert w[0] == 0.0 and w[-1] == 0.0 and w[mid] == 1.0 and np.all(np.diff(w[:mid]) >= 0)
    # smooth: no step larger than the larger of the two motions' own steps
    step = np.abs(np.diff(retry, axis=0)).max(axis=0)
    bound = np.maximum(np.abs(np.diff(base, axis=0)).max(axis=0),
                       np.abs(np.diff(other, axis=0)).max(axis=0))
    assert np.all(step <= 1.5 * bound + 1e-9)
