"""Tests for vidpipe.media.audio: decoding, validation, VAD, segmentation, frame features."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vidpipe import timing
from vidpipe.errors import InputError
from vidpipe.media import audio
from vidpipe.media.audio import (AudioAnalysis, analyze_audio, decode_audio, frame_features,
                                 loudness_reference, segment_audio, speech_probability,
                                 validate_speech, write_pcm_wav, write_wav_slice)
from vidpipe_tests.media.conftest import (DEMO_WAV, SR, PausedSpeech, ffmpeg, noise, tone,
                                          write_wav)

FEATURE_NAMES = ("energy", "voiced", "mouth_open", "emphasis")


def _envelope(x: np.ndarray) -> np.ndarray:
    """10 ms RMS envelope: compares lossy decodes without caring about phase."""
    n = x.size // 160
    return np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1))


def _dominant_hz(x: np.ndarray, sr: int) -> float:
    """Strongest frequency: a resampled tone must keep its pitch."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(spec)])


def _assert_input_error(path: Path, fragment: str,
                        fn: Callable[[Path], object] = decode_audio) -> None:
    """The user must see which file is wrong and why, as an InputError (no traceback)."""
    with pytest.raises(InputError) as info:
        fn(path)
    message = str(info.value)
    assert path.name in message, message
    assert fragment in message, message


def _silent_gaps(x: np.ndarray) -> list[tuple[int, int]]:
    """Mid-recording stretches of digital silence longer than 0.5 s, in samples."""
    silent = np.abs(x) < 1e-4
    runs = np.diff(np.concatenate([[0], silent.astype(np.int8), [0]]))
    starts, stops = np.nonzero(runs == 1)[0], np.nonzero(runs == -1)[0]
    return [(a, b) for a, b in zip(starts, stops) if b - a > 0.5 * SR and 0 < a and b < x.size]


def _assert_covers(ranges: list[tuple[int, int]], n: int) -> None:
    """Segments must tile [0, n) exactly: no gap, no overlap, nothing empty."""
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a < b for a, b in ranges)
    assert all(b == c for (_, b), (c, _) in zip(ranges[:-1], ranges[1:]))


# ------------------------------------------------------------------------------ decoding

@pytest.mark.parametrize("ext", ["wav", "mp3", "flac", "ogg", "m4a"])
def test_decodes_common_formats_to_the_same_track(tmp_path: Path, demo_samples: np.ndarray,
                                                  ext: str) -> None:
    src = tmp_path / f"speech.{ext}"
    ffmpeg("-i", str(DEMO_WAV), str(src))
    x = decode_audio(src)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size - demo_samples.size) <= 0.02 * SR
    m = min(x.size, demo_samples.size)
    assert np.corrcoef(_envelope(x[:m]), _envelope(demo_samples[:m]))[0, 1] > 0.98
    if ext in ("wav", "flac"):
        np.testing.assert_allclose(x, demo_samples, atol=1e-4)


def test_decodes_the_audio_track_of_a_video(tmp_path: Path, demo_samples: np.ndarray) -> None:
    video = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-i", str(DEMO_WAV),
           "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(video))
    x = decode_audio(video)
    assert abs(x.size - demo_samples.size) <= 0.1 * SR
    m = min(x.size, demo_samples.size)
    assert np.corrcoef(_envelope(x[:m]), _envelope(demo_samples[:m]))[0, 1] > 0.98


def test_stereo_is_averaged_to_mono_without_clipping(tmp_path: Path) -> None:
    left, right = tone(1.0, 440, 44100, amp=0.9), tone(1.0, 660, 44100, amp=0.9)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    x = decode_audio(path)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    a440, a660 = (spec[np.argmin(np.abs(freqs - hz))] for hz in (440, 660))
    assert a440 == pytest.approx(a660, rel=0.02)      # both channels, equally
    same = tmp_path / "same.wav"
    sf.write(same, np.stack([left, left], axis=1), 44100, subtype="FLOAT")
    assert np.abs(decode_audio(same)).max() == pytest.approx(0.9, abs=0.02)  # an average


@pytest.mark.parametrize("rate", [44100, 48000, 8000])
def test_resamples_to_the_requested_rate(tmp_path: Path, rate: int) -> None:
    path = write_wav(tmp_path / f"tone{rate}.wav", tone(1.5, 1000, rate), rate)
    x = decode_audio(path)
    assert abs(x.size - 1.5 * SR) <= 2
    assert _dominant_hz(x, SR) == pytest.approx(1000, abs=5)
    assert decode_audio(path, sample_rate=8000).size == pytest.approx(1.5 * 8000, abs=2)


def test_missing_file(tmp_path: Path) -> None:
    _assert_input_error(tmp_path / "nothing_here.wav", "does not exist")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    _assert_input_error(folder, "directory")


def test_text_file_renamed_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are my notes, not a recording\n" * 20)
    _assert_input_error(path, "not an audio or video file")


def test_zero_length_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _assert_input_error(path, "empty")


def test_header_only_wav_is_too_short(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "header_only.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(InputError) as info:
        decode_audio(path)
    assert path.name in str(info.value)


def test_too_short(tmp_path: Path) -> None:
    _assert_input_error(write_wav(tmp_path / "blip.wav", tone(0.1, 440, SR)), "too short")


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_truncated_file(tmp_path: Path, ext: str) -> None:
    full = tmp_path / f"full.{ext}"
    ffmpeg("-i", str(DEMO_WAV), str(full))
    data = full.read_bytes()
    cut = tmp_path / f"cut_off.{ext}"
    cut.write_bytes(data[: len(data) // 2 // 2 * 2])
    _assert_input_error(cut, "truncated")


def test_video_without_audio(tmp_path: Path) -> None:
    video = tmp_path / "mute.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-t", "1", "-c:v", "mpeg4",
           str(video))
    _assert_input_error(video, "no audio track")


# ---------------------------------------------------------------------------- validation

def test_validate_accepts_speech() -> None:
    info = validate_speech(DEMO_WAV)
    assert info.sample_rate == SR
    assert info.n_samples == sf.info(DEMO_WAV).frames
    assert info.duration_s == pytest.approx(info.n_samples / SR)
    assert info.peak_dbfs > -20
    assert 0.5 < info.speech_ratio < 1.0


def test_validate_rejects_digital_silence(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "all_zero.wav", np.zeros(3 * SR, dtype=np.float32))
    _assert_input_error(path, "silent", validate_speech)


def test_validate_rejects_near_silence(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "hiss.wav", noise(3.0, level=10 ** (-70 / 20)))
    _assert_input_error(path, "silent", validate_speech)


@pytest.mark.parametrize("kind", ["white", "tone"])
def test_validate_rejects_sound_that_is_not_speech(tmp_path: Path, kind: str) -> None:
    x = noise(4.0, level=0.2) if kind == "white" else tone(4.0, 440, SR, amp=0.5)
    path = write_wav(tmp_path / f"{kind}_noise.wav", x)
    _assert_input_error(path, "no speech", validate_speech)


# -------------------------------------------------------------------------------- VAD

def test_speech_probability_follows_speech_and_silence(paused_speech: PausedSpeech) -> None:
    x = paused_speech.samples
    p = speech_probability(x, SR)
    assert p.dtype == np.float32 and p.size == math.ceil(x.size / 512)
    window = 512
    for a, b in paused_speech.pauses:  # the middle of every pause is silence
        mid = (a + b) // 2 // window
        assert p[mid] < 0.3
    voiced = np.ones(x.size, dtype=bool)
    for a, b in paused_speech.pauses:
        voiced[a:b] = False
    voiced[: int(0.3 * SR)] = voiced[-int(0.3 * SR):] = False
    centers = np.minimum(np.arange(p.size) * window + window // 2, x.size - 1)
    assert np.mean(p[voiced[centers]] > 0.5) > 0.85


def test_speech_probability_at_8k(demo_samples: np.ndarray) -> None:
    from scipy.signal import resample_poly

    x8 = resample_poly(demo_samples, 1, 2).astype(np.float32)
    p8, p16 = speech_probability(x8, 8000), speech_probability(demo_samples, SR)
    m = min(p8.size, p16.size)
    assert np.mean((p8[:m] > 0.5) == (p16[:m] > 0.5)) > 0.85


# --------------------------------------------------------------------------- segmenting

def test_segments_cover_the_recording_and_cut_in_pauses(paused_speech: PausedSpeech) -> None:
    x = paused_speech.samples
    ranges = segment_audio(x, SR)
    _assert_covers(ranges, x.size)
    assert len(ranges) >= 3
    for a, b in ranges:
        assert 3.0 * SR <= b - a <= 8.0 * SR
    for _, cut in ranges[:-1]:
        assert paused_speech.in_pause(cut), f"cut at {cut / SR:.2f}s is not in a pause"


def test_segmentation_is_deterministic(demo_samples: np.ndarray) -> None:
    x = demo_samples
    assert segment_audio(x, SR) == segment_audio(x.copy(), SR)


def test_demo_cuts_into_at_least_two_segments_at_a_pause(demo_samples: np.ndarray) -> None:
    ranges = segment_audio(demo_samples, SR)
    _assert_covers(ranges, demo_samples.size)
    assert len(ranges) >= 2
    level = np.abs(demo_samples)
    for _, cut in ranges[:-1]:
        around = level[cut - int(0.1 * SR):cut + int(0.1 * SR)]
        assert around.max() < 1e-3, f"cut at {cut / SR:.2f}s is not in silence"


def test_short_recording_is_one_segment(demo_samples: np.ndarray) -> None:
    x = demo_samples[: int(2.5 * SR)]
    assert segment_audio(x, SR) == [(0, x.size)]


def test_forced_cut_goes_to_the_nearest_pause(paused_speech: PausedSpeech) -> None:
    x = paused_speech.samples
    a, b = paused_speech.pauses[2]
    t = (b + int(0.6 * SR)) / SR  # inside the next phrase, 0.6 s after the pause ends
    ranges = segment_audio(x, SR, forced_cuts_s=[t])
    _assert_covers(ranges, x.size)
    cuts = [r[1] for r in ranges[:-1]]
    forced = [c for c in cuts if a <= c <= b]
    assert len(forced) == 1 and abs(forced[0] / SR - t) <= 1.0
    assert not any(abs(c / SR - t) < 0.5 and not a <= c <= b for c in cuts)


def test_forced_cut_without_a_pause_is_exact() -> None:
    x = noise(12.0, level=0.1)
    ranges = segment_audio(x, SR, forced_cuts_s=[5.0])
    _assert_covers(ranges, x.size)
    assert 5 * SR in [r[1] for r in ranges]


def test_without_pauses_the_cut_takes_the_quietest_10ms() -> None:
    x = noise(14.0, level=0.1)
    notch = slice(int(7.0 * SR), int(7.04 * SR))  # 40 ms dip: too short to be a pause
    x[notch] *= 0.01
    ranges = segment_audio(x, SR)
    assert len(ranges) == 2
    assert notch.start <= ranges[0][1] <= notch.stop


def test_long_pauseless_audio_still_respects_bounds() -> None:
    x = noise(20.0, level=0.1, seed=3)
    ranges = segment_audio(x, SR)
    _assert_covers(ranges, x.size)
    assert all(3.0 * SR <= b - a <= 8.0 * SR for a, b in ranges)


def test_bad_segment_bounds_are_an_input_error(demo_samples: np.ndarray) -> None:
    with pytest.raises(InputError):
        segment_audio(demo_samples, SR, min_s=6.0, target_s=5.0, max_s=8.0)


# ------------------------------------------------------------------------ frame features

@pytest.fixture(scope="module")
def demo_vad(demo_samples: np.ndarray) -> np.ndarray:
    """Computed once: the length tests are about frame arithmetic, not the VAD."""
    return speech_probability(demo_samples, SR)


@pytest.mark.parametrize("fps", [24, 25, 30])
def test_feature_lengths_match_timing(demo_samples: np.ndarray, demo_vad: np.ndarray,
                                      fps: int) -> None:
    x = demo_samples
    for a, b in [(0, x.size), (0, 40000), (40000, 97001), (97001, x.size)]:
        f = frame_features(x, SR, fps, a, b, vad_windows=demo_vad)
        first, end = timing.frame_range(a, b, SR, fps)
        assert f.first_frame == first and f.n_frames == end - first and f.fps == fps
        for name in FEATURE_NAMES:
            arr = getattr(f, name)
            assert arr.dtype == np.float32 and arr.shape == (end - first,)
            assert arr.min() >= 0.0 and arr.max() <= 1.0


def test_mouth_rests_in_silence_and_moves_with_speech(demo_samples: np.ndarray) -> None:
    fps = 30
    f = frame_features(demo_samples, SR, fps, 0, demo_samples.size)
    long_gaps = _silent_gaps(demo_samples)
    assert long_gaps, "the demo must contain a silent stretch longer than 0.5 s"
    for a, b in long_gaps:
        # the mouth may take ~0.2 s to close; emphasis may anticipate the next word by 2 frames
        inner = slice(timing.frame_at(a, SR, fps) + 6, timing.frame_at(b, SR, fps) - 3)
        assert f.mouth_open[inner].max() < 0.02
        assert f.emphasis[inner].max() < 0.05
        assert f.voiced[inner].max() < 0.3
    speaking = f.voiced > 0.8
    assert speaking.mean() > 0.5
    assert f.mouth_open[speaking].mean() > 0.4
    assert np.percentile(f.mouth_open[speaking], 95) > 0.8
    assert f.emphasis[speaking].mean() > 0.1
    assert f.energy[speaking].mean() > f.energy[~speaking].mean() + 0.4


def test_segment_features_equal_the_whole_recording(paused_speech: PausedSpeech) -> None:
    x, fps = paused_speech.samples, 30
    vad = speech_probability(x, SR)
    ref = loudness_reference(x, SR)
    whole = frame_features(x, SR, fps, 0, x.size, loudness_ref=ref, vad_windows=vad)
    assert whole.n_frames == timing.total_frames(x.size, SR, fps)
    ranges = segment_audio(x, SR, vad_windows=vad) + [(int(4.321 * SR), int(11.5 * SR))]
    for a, b in ranges:
        part = frame_features(x, SR, fps, a, b, loudness_ref=ref)  # VAD recomputed locally
        for name in FEATURE_NAMES:
            np.testing.assert_allclose(getattr(part, name),
                                       getattr(whole, name)[part.first_frame:
                                                            part.first_frame + part.n_frames],
                                       atol=1e-5, err_msg=f"{name} of [{a}, {b})")


def test_loudness_reference_tracks_level(demo_samples: np.ndarray) -> None:
    ref = loudness_reference(demo_samples, SR)
    quieter = loudness_reference(demo_samples * 0.1, SR)
    assert quieter == pytest.approx(ref - 20.0, abs=0.1)
    f_loud = frame_features(demo_samples, SR, 30, 0, demo_samples.size, loudness_ref=ref)
    f_quiet = frame_features(demo_samples * 0.1, SR, 30, 0, demo_samples.size,
                             loudness_ref=quieter)
    np.testing.assert_allclose(f_loud.energy, f_quiet.energy, atol=1e-3)
    # the VAD itself is slightly level-dependent (an onset may start a frame later)
    assert np.mean(np.abs(f_loud.mouth_open - f_quiet.mouth_open) < 0.05) > 0.95


# ------------------------------------------------------------------------------ analysis

def test_analyze_audio_frames_add_up(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    shutil.copy(DEMO_WAV, path)
    result = analyze_audio(path, fps=30)
    assert result.schema_version == 1 and result.source == str(path)
    assert len(result.segments) >= 2
    assert sum(s.n_frames for s in result.segments) == timing.total_frames(result.n_samples,
                                                                           SR, 30)
    _assert_covers([(s.start_sample, s.end_sample) for s in result.segments], result.n_samples)
    expected_first = 0
    for i, seg in enumerate(result.segments):
        assert seg.index == i and seg.first_frame == expected_first
        expected_first += seg.n_frames
        assert 0.3 < seg.speech_ratio <= 1.0 and 0.0 < seg.mean_energy <= 1.0
    assert len(result.speech) == 3  # three sentences
    again = AudioAnalysis.model_validate_json(result.model_dump_json())
    assert again == result


def test_analyze_audio_honours_forced_cuts(tmp_path: Path, demo_samples: np.ndarray) -> None:
    path = tmp_path / "take.wav"
    shutil.copy(DEMO_WAV, path)
    a, b = _silent_gaps(demo_samples)[0]
    scene_change = b / SR + 0.4  # just after the first sentence break
    result = analyze_audio(path, fps=25, forced_cuts_s=[scene_change])
    cut = result.segments[0].end_sample
    assert a <= cut <= b and abs(cut / SR - scene_change) <= 1.0
    # the cut sits before the requested time, so the new scene is found by change_at_s
    assert result.segments[0].change_at_s is None
    assert result.segments[1].change_at_s == pytest.approx(scene_change)
    assert all(s.change_at_s is None for s in result.segments[2:])


def test_forced_cuts_too_close_together_merge(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "no_pauses.wav", noise(12.0, level=0.1))  # cuts land exactly
    result = analyze_audio(path, fps=25, forced_cuts_s=[0.2, 5.0, 5.3, 11.8])
    starts = [s.start_sample for s in result.segments]
    assert 5 * SR in starts
    assert not {int(0.2 * SR), int(5.3 * SR), int(11.8 * SR)} & set(starts)
    changes = {s.start_sample: s.change_at_s for s in result.segments if s.change_at_s}
    assert changes == {0: pytest.approx(0.2), 5 * SR: pytest.approx(5.3)}
    assert all(s.n_frames > 0 for s in result.segments)


# ------------------------------------------------------------------------------- writing

def test_write_wav_slice_is_exact_pcm16(tmp_path: Path, demo_samples: np.ndarray) -> None:
    out = write_wav_slice(demo_samples, SR, 12345, 67890, tmp_path / "seg" / "001.wav")
    info = sf.info(out)
    assert info.subtype == "PCM_16" and info.samplerate == SR and info.channels == 1
    assert info.frames == 67890 - 12345
    back, _ = sf.read(out, dtype="float32")
    np.testing.assert_allclose(back, demo_samples[12345:67890], atol=1 / 32768 + 1e-6)
    with pytest.raises(ValueError):
        write_wav_slice(demo_samples, SR, 10, demo_samples.size + 1, tmp_path / "bad.wav")


def test_write_pcm_wav_round_trips_through_decode(tmp_path: Path,
                                                  paused_speech: PausedSpeech) -> None:
    out = write_pcm_wav(paused_speech.samples, SR, tmp_path / "full.wav")
    assert [p.name for p in tmp_path.iterdir()] == ["full.wav"]  # no temp file left behind
    back = decode_audio(out)
    assert back.size == paused_speech.samples.size
    np.testing.assert_allclose(back, paused_speech.samples, atol=1 / 32768 + 1e-6)


def test_vad_model_is_cached() -> None:
    assert audio._vad_model(SR) is audio._vad_model(SR)
