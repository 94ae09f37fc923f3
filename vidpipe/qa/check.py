"""Hold a `ProjectQA` to `QABounds`.

Per-segment scores that mean "this segment looks wrong" (lip-sync, identity, background,
join, frame count) are blocking: re-rendering that segment is the fix. Whole-video trends,
flicker and viseme shapes (few frames per segment) are reported as non-blocking warnings
unless the lead decides otherwise;
an unmeasured score (None) is never a failure.
"""

from __future__ import annotations

from vidpipe.qa.models import Failure, ProjectQA, QABounds, SegmentQA


def _fail(metric, segment, value, bound, blocking, what) -> Failure:
    where = f"segment {segment}" if segment else "video"
    return Failure(metric=metric, segment=segment, value=float(value), bound=float(bound),
                   blocking=blocking, message=f"{where}: {what}")


def enough_speech(s: SegmentQA, b: QABounds) -> bool:
    """Lip-sync and A/V offset say something only over enough speech."""
    return s.speech_frames >= b.min_speech_frames


def enough_silence(s: SegmentQA, b: QABounds) -> bool:
    """The share of silent frames with the mouth closed, only over enough silence: over one
    silent frame (a recording that never pauses) it is 0 or 1 by chance."""
    return s.silent_frames >= b.min_silent_frames


def _check_segment(s: SegmentQA, b: QABounds) -> list[Failure]:
    out: list[Failure] = []
    k = s.key
    speech = enough_speech(s, b)
    if speech and b.lipsync_corr_min is not None and s.lipsync_corr is not None \
            and s.lipsync_corr < b.lipsync_corr_min:
        out.append(_fail("lipsync_corr", k, s.lipsync_corr, b.lipsync_corr_min, True,
                         f"mouth follows the speech with r={s.lipsync_corr:.2f} "
                         f"(need >= {b.lipsync_corr_min})"))
    if speech and b.av_offset_max is not None and s.av_offset is not None \
            and abs(s.av_offset) > b.av_offset_max:
        out.append(_fail("av_offset", k, s.av_offset, b.av_offset_max, True,
                         f"mouth is {s.av_offset:+d} frames off the sound "
                         f"(allowed +-{b.av_offset_max})"))
    if enough_silence(s, b) and b.silent_closed_min is not None \
            and s.silent_closed is not None and s.silent_closed < b.silent_closed_min:
        out.append(_fail("silent_closed", k, s.silent_closed, b.silent_closed_min, True,
                         f"mouth closed in {s.silent_closed:.0%} of silent frames "
                         f"(need >= {b.silent_closed_min:.0%})"))
    if b.identity_max is not None and s.identity_mean is not None \
            and s.identity_mean > b.identity_max:
        out.append(_fail("identity", k, s.identity_mean, b.identity_max, True,
                         f"face distance to the person photo {s.identity_mean:.2f} "
                         f"(need <= {b.identity_max}; 0.6 = another person)"))
    if b.garment_delta_e_frames_max is not None and s.garment_delta_e is not None \
            and s.garment_delta_e > b.garment_delta_e_frames_max:
        out.append(_fail("garment_delta_e_frames", k, s.garment_delta_e,
                         b.garment_delta_e_frames_max, True,
                         f"garment colour off by dE2000 {s.garment_delta_e:.1f}"))
    if b.background_psnr_min is not None and s.background_psnr is not None \
            and s.background_psnr < b.background_psnr_min:
        out.append(_fail("background_psnr", k, s.background_psnr, b.background_psnr_min, True,
                         f"background differs from the scene: PSNR {s.background_psnr:.1f} dB "
                         f"(need >= {b.background_psnr_min})"))
    if b.join_ratio_max is not None and s.join_ratio is not None \
            and s.join_ratio > b.join_ratio_max:
        out.append(_fail("join_ratio", k, s.join_ratio, b.join_ratio_max, True,
                         f"visible jump at the join into this segment: {s.join_ratio:.1f}x "
                         f"the in-segment change (allowed {b.join_ratio_max}x)"))
    if b.flicker_luma_std_max is not None and s.flicker_luma_std is not None \
            and s.flicker_luma_std > b.flicker_luma_std_max:
        out.append(_fail("flicker_luma_std", k, s.flicker_luma_std, b.flicker_luma_std_max,
                         False, f"background brightness varies by {s.flicker_luma_std:.2f} "
                                f"grey levels (std; allowed {b.flicker_luma_std_max})"))
    if b.flicker_diff_max is not None and s.flicker_diff is not None \
            and s.flicker_diff > b.flicker_diff_max:
        out.append(_fail("flicker_diff", k, s.flicker_diff, b.flicker_diff_max, False,
                         f"background changes by {s.flicker_diff:.2f} grey levels per frame "
                         f"(allowed {b.flicker_diff_max})"))
    if b.segment_frame_error_max is not None and abs(s.frame_error) > b.segment_frame_error_max:
        out.append(_fail("frame_error", k, s.frame_error, b.segment_frame_error_max, True,
                         f"{s.frames} frames in the video, {s.planned_frames} planned"))
    return out


def check(qa: ProjectQA, bounds: QABounds | None = None) -> list[Failure]:
    """Every bound that `qa` breaks, segment by segment, then the whole-video ones."""
    b = bounds or QABounds()
    out: list[Failure] = []
    for s in qa.segments:
        out.extend(_check_segment(s, b))
    if b.garment_delta_e_max is not None and qa.garment_delta_e_tryon is not None \
            and qa.garment_delta_e_tryon > b.garment_delta_e_max:
        out.append(_fail("garment_delta_e_tryon", None, qa.garment_delta_e_tryon,
                         b.garment_delta_e_max, True,
                         f"try-on garment colour off by dE2000 {qa.garment_delta_e_tryon:.1f} "
                         f"(need <= {b.garment_delta_e_max})"))
    if b.identity_trend_max is not None and qa.identity_trend is not None \
            and qa.identity_trend > b.identity_trend_max:
        out.append(_fail("identity_trend", None, qa.identity_trend, b.identity_trend_max, False,
                         f"face drifts away from the photo by {qa.identity_trend:.3f} per "
                         f"segment (allowed {b.identity_trend_max})"))
    if b.rounding_ratio_max is not None and qa.rounding_ratio is not None \
            and min(qa.rounded_frames, qa.open_frames) >= b.min_viseme_frames \
            and qa.rounding_ratio > b.rounding_ratio_max:
        out.append(_fail("rounding_ratio", None, qa.rounding_ratio, b.rounding_ratio_max, False,
                         f"lips on o/u/w are {qa.rounding_ratio:.2f}x as wide as on open vowels "
                         f"(need <= {b.rounding_ratio_max}: rounding is not seen)"))
    if b.bilabial_closed_min is not None and qa.bilabial_closed is not None \
            and qa.bilabial_frames >= b.min_viseme_frames \
            and qa.bilabial_closed < b.bilabial_closed_min:
        out.append(_fail("bilabial_closed", None, qa.bilabial_closed, b.bilabial_closed_min,
                         False, f"mouth closed in {qa.bilabial_closed:.0%} of p/b/m frames "
                                f"(need >= {b.bilabial_closed_min:.0%})"))
    if b.duration_error_frames_max is not None and qa.duration_error_frames is not None \
            and abs(qa.duration_error_frames) > b.duration_error_frames_max:
        out.append(_fail("duration_error_frames", None, qa.duration_error_frames,
                         b.duration_error_frames_max, True,
                         f"video lasts {qa.video_duration_s:.3f} s, audio "
                         f"{qa.audio_duration_s:.3f} s ({qa.duration_error_frames:+.1f} frames)"))
    return out
