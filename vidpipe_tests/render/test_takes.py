"""What the take loop holds a segment to: the scores `vidpipe qa` would hold it to."""

from __future__ import annotations

from vidpipe.qa.models import QABounds, SegmentQA
from vidpipe.render.takes import loop_scores


def _segment(speech: int, silent: int) -> SegmentQA:
    return SegmentQA(key="s0000", first_frame=0, frames=200, planned_frames=200, frame_error=0,
                     face_found=1.0, speech_frames=speech, silent_frames=silent,
                     lipsync_corr=0.7, silent_closed=0.0, av_offset=0, identity_mean=0.3,
                     background_psnr=33.0)


def test_one_silent_frame_does_not_judge_the_closed_mouth():
    """A recording that never pauses has a silent frame or two; whether that frame's mouth
    is shut is chance, and a 0 % there made the loop render the segment three times
    (sample c13: RTF 4.8 instead of ~2)."""
    bounds = QABounds()
    scores = loop_scores(_segment(speech=195, silent=1), 1.3, bounds)
    assert "mouth_closed_silence" not in scores
    assert scores["lipsync_corr"] == 0.7 and scores["identity_distance"] == 0.3
    enough = loop_scores(_segment(speech=195, silent=bounds.min_silent_frames), 1.3, bounds)
    assert enough["mouth_closed_silence"] == 0.0


def test_lipsync_needs_enough_speech():
    bounds = QABounds()
    scores = loop_scores(_segment(speech=bounds.min_speech_frames - 1, silent=40), None, bounds)
    assert "lipsync_corr" not in scores and "av_offset_frames" not in scores
    assert "garment_delta_e" not in scores and scores["mouth_closed_silence"] == 0.0
    full = loop_scores(_segment(speech=bounds.min_speech_frames, silent=40), 2.0, bounds)
    assert full["lipsync_corr"] == 0.7 and full["av_offset_frames"] == 0.0
    assert full["garment_delta_e"] == 2.0
