"""Bounds and failures on hand-made scores."""

from vidpipe.qa import ProjectQA, QABounds, SegmentQA, check


def _seg(key="s0001", **scores) -> SegmentQA:
    base = dict(key=key, first_frame=0, frames=100, planned_frames=100, frame_error=0,
                face_found=1.0, speech_frames=60, silent_frames=30, lipsync_corr=0.8,
                silent_closed=0.95, av_offset=0, identity_mean=0.2, identity_max=0.25,
                identity_samples=4, background_psnr=38.0, flicker_luma_std=0.1,
                flicker_diff=0.2, join_ratio=0.9)
    base.update(scores)
    return SegmentQA(**base)


def _project(*segs, **scores) -> ProjectQA:
    base = dict(video="v.mp4", width=1280, height=720, fps=25, n_frames=100,
                video_duration_s=4.0, audio_duration_s=4.0, duration_error_frames=0.0,
                segments=list(segs), garment_delta_e_tryon=2.0, identity_trend=0.0)
    base.update(scores)
    return ProjectQA(**base)


def test_good_scores_pass():
    assert check(_project(_seg())) == []


def test_each_bad_segment_score_fails_and_names_the_segment():
    bad = {"lipsync_corr": 0.3, "silent_closed": 0.5, "av_offset": -3, "identity_mean": 0.55,
           "background_psnr": 25.0, "join_ratio": 4.0, "frame_error": 2}
    for metric, value in bad.items():
        failures = check(_project(_seg(**{metric: value})))
        assert [f.metric for f in failures] == [metric if metric != "identity_mean"
                                                else "identity"]
        assert failures[0].segment == "s0001" and failures[0].blocking
        assert "s0001" in failures[0].message


def test_video_wide_failures():
    failures = check(_project(_seg(), garment_delta_e_tryon=9.0, identity_trend=0.08,
                              duration_error_frames=2.0))
    by = {f.metric: f for f in failures}
    assert set(by) == {"garment_delta_e_tryon", "identity_trend", "duration_error_frames"}
    assert by["garment_delta_e_tryon"].segment is None
    assert not by["identity_trend"].blocking


def test_flicker_is_a_warning():
    (f,) = check(_project(_seg(flicker_luma_std=3.0)))
    assert f.metric == "flicker_luma_std" and not f.blocking


def test_unmeasured_scores_and_short_speech_are_not_failures():
    seg = _seg(lipsync_corr=None, identity_mean=None, background_psnr=None, join_ratio=None)
    assert check(_project(seg, garment_delta_e_tryon=None, duration_error_frames=None)) == []
    assert check(_project(_seg(speech_frames=5, lipsync_corr=0.1, av_offset=4))) == []


def test_bounds_are_configurable_and_serialisable():
    qa = _project(_seg(lipsync_corr=0.5))
    assert check(qa, QABounds(lipsync_corr_min=0.4)) == []
    assert check(qa, QABounds(lipsync_corr_min=None)) == []
    bounds = QABounds.model_validate_json(QABounds(join_ratio_max=2.0).model_dump_json())
    assert bounds.join_ratio_max == 2.0 and bounds.schema_version == 1
    assert ProjectQA.model_validate_json(qa.model_dump_json()) == qa


def test_visemes_are_video_wide_warnings_with_enough_frames():
    shapes = dict(rounded_frames=8, open_frames=12, bilabial_frames=6)
    assert check(_project(_seg(), rounding_ratio=0.8, bilabial_closed=1.0, **shapes)) == []
    failures = check(_project(_seg(), rounding_ratio=1.01, bilabial_closed=0.5, **shapes))
    assert {f.metric for f in failures} == {"rounding_ratio", "bilabial_closed"}
    assert all(f.segment is None and not f.blocking for f in failures)
    assert "o/u/w" in failures[0].message
    few = dict(rounded_frames=3, open_frames=12, bilabial_frames=2)
    assert check(_project(_seg(), rounding_ratio=1.01, bilabial_closed=0.5, **few)) == []
    assert check(_project(_seg(), rounding_ratio=None, **shapes)) == []
