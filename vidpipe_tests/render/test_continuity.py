"""A retried segment varies only its inside: gestures and the ComfyUI driving pose."""

from __future__ import annotations

import numpy as np

from vidpipe.render.continuity import blend_inside, edge_weight
from vidpipe_tests.render.embedded.video_fixtures import speech_features


def test_edge_weight_is_zero_at_both_ends_and_one_inside():
    w = edge_weight(100, 25)
    assert w[0] == 0.0 and w[-1] == 0.0 and np.all(w[15:85] == 1.0)
    assert np.all(np.diff(w[:16]) > 0) and np.all((w >= 0) & (w <= 1))
    short = edge_weight(10, 25)  # shorter than two ramps: never fully the variant
    assert short.max() < 1.0 and short[0] == short[-1] == 0.0
    assert edge_weight(0, 25).shape == (0,)


def test_blend_inside_keeps_the_edges_of_the_base():
    base, variant = np.zeros((50, 3)), np.ones((50, 3))
    out = blend_inside(base, variant, 25)
    assert np.array_equal(out[[0, -1]], base[[0, -1]]) and np.array_equal(out[25], variant[25])


def test_gentler_gestures_change_the_inside_only():
    from vidpipe.render.takes import scaled_features

    feats = speech_features(90, 25)
    feats.emphasis[:] = 0.4  # emphasis everywhere, so a change at the edges would show
    gentle = scaled_features(feats, 0.25)
    assert gentle.emphasis[0] == feats.emphasis[0] and gentle.emphasis[-1] == feats.emphasis[-1]
    assert np.isclose(gentle.emphasis[45], 0.2)


def test_comfy_driving_pose_of_a_retry_starts_and_ends_as_its_neighbours(tmp_path):
    from vidpipe.media.video import iter_frames, probe_video
    from vidpipe.render.comfyui.prepare import driving_clip, driving_sway

    feats = speech_features(40, 25)
    feats.emphasis[:] = 0.8
    base = driving_sway(feats, 7, 40, 25, 96)
    other = driving_sway(feats, 8, 40, 25, 96)
    retry = driving_sway(feats, 8, 40, 25, 96, join_seed=7)
    assert np.abs(base[20, 0] - other[20, 0]) > 0.1  # the seeds sway differently
    assert np.array_equal(retry[[0, -1]], base[[0, -1]]) and np.allclose(retry[20], other[20])
    assert np.array_equal(driving_sway(feats, 7, 40, 25, 96, join_seed=7), base)
    # and the clip is drawn from it
    still = np.zeros((96, 128, 3), np.uint8)
    still[20:90, 50:78] = (200, 120, 90)
    driving_clip(still, feats, tmp_path / "retry.mp4", seed=8, n_frames=40, fps=25,
                 anchor=(64.0, 95.0), join_seed=7)
    assert probe_video(tmp_path / "retry.mp4").n_frames == 40
    assert next(iter_frames(tmp_path / "retry.mp4")).std() > 10
