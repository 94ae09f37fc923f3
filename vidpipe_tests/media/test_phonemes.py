"""Lips follow phonemes: p/b/m shut the mouth, open vowels open it, o/u/w round the lips, from
the transcript or from offline recognition when there is none (English only)."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.demo.inputs import SPEECH, TRANSCRIPT
from vidpipe.media.audio import decode_audio, frame_features
from vidpipe.media.phonemes import (Phone, PhoneAlignment, align_phones, apply_visemes,
                                    recognises, viseme_caps, viseme_class, viseme_frames,
                                    viseme_rounding)

FPS = 25


@pytest.fixture(scope="module")
def speech():
    return decode_audio(SPEECH, 16000)


@pytest.fixture(scope="module")
def aligned(speech):
    return align_phones(speech, TRANSCRIPT.read_text())


def test_transcript_alignment_finds_the_words_and_their_phones(aligned):
    assert aligned.source == "transcript" and not aligned.dropped_words
    words = [p.word for p in aligned.phones if p.word != "<sil>"]
    assert "preview" in words and "make" in words
    make = [p for p in aligned.phones if p.word == "make"]
    assert [p.phone for p in make] == ["M", "EY", "K"]
    assert all(b.start_s >= a.start_s for a, b in zip(aligned.phones, aligned.phones[1:]))


def test_bilabials_close_the_mouth_and_open_vowels_keep_it_open(speech, aligned):
    feats = frame_features(speech, 16000, FPS, 0, len(speech))
    caps = viseme_caps(aligned, FPS, 0, feats.n_frames)
    mouth = apply_visemes(feats.mouth_open, caps)

    def frames_of(cls):
        """Frames whose time lies inside a phone of the class."""
        times = np.arange(feats.n_frames) / FPS
        inside = np.zeros(feats.n_frames, bool)
        for p in aligned.phones:
            if viseme_class(p.phone) == cls:
                inside |= (times >= p.start_s) & (times < p.end_s)
        return np.flatnonzero(inside)

    closed = frames_of("closed")
    assert len(closed) >= 3  # the m of "make", the p of "preview", ... every p/b/m in the text
    assert np.all(mouth[closed] == 0.0)
    assert np.any(feats.mouth_open[closed] > 0.2), "loudness alone would have opened them"
    open_ = frames_of("open")
    assert np.median(mouth[open_]) > 0.3
    rounded = frames_of("rounded")
    assert np.all(mouth[rounded] <= 0.55 + 1e-6)


def test_without_a_transcript_the_words_are_recognised(speech):
    result = align_phones(speech, None)
    assert result.source == "recognised"
    assert "preview" in result.text and "video" in result.text
    assert any(p.phone == "M" for p in result.phones)


def test_no_words_means_no_caps_and_a_note():
    silence = np.zeros(16000, np.float32)
    result = align_phones(silence, "zzzqx")
    assert result.source == "none" and result.note and result.dropped_words == ["zzzqx"]
    assert np.all(viseme_caps(result, FPS, 0, 10) == 1.0)


def test_long_recordings_align_in_chunks_with_bounded_memory(speech, aligned):
    """A minute of speech: the same phones as the short clip, repeated, and every chunk
    placed at its own time."""
    from vidpipe.media.phonemes import CHUNK_S

    n = 7  # ~60 s, three chunks
    long = np.concatenate([speech] * n)
    result = align_phones(long, " ".join([TRANSCRIPT.read_text()] * n))
    assert result.source == "transcript"
    per_copy = [p for p in aligned.phones if p.phone != "SIL"]
    got = [p for p in result.phones if p.phone != "SIL"]
    assert len(got) == n * len(per_copy)
    dur = len(speech) / 16000
    last = [p for p in got if p.word == "video"][-1]
    assert abs(last.start_s - ((n - 1) * dur + [p for p in per_copy if p.word == "video"][-1]
                               .start_s)) < 0.15
    assert len(long) / 16000 > 2.5 * CHUNK_S


def test_rounding_is_full_on_o_u_w_and_eases_in_and_out(speech, aligned):
    n = int(len(speech) / 16000 * FPS)
    rounding = viseme_rounding(aligned, FPS, 0, n)
    classes = viseme_frames(aligned, FPS, 0, n)
    rounded = np.flatnonzero(classes == "rounded")
    assert len(rounded) >= 5  # "you", "your", "video", "word", "looks", "full"
    assert np.all(rounding[rounded] == 1.0)
    far = np.ones(n, bool)
    for f in np.flatnonzero(rounding == 1.0):  # rounded frames and sub-frame rounded phones
        far[max(0, f - 4):f + 5] = False
    assert far.sum() > n / 3 and np.all(rounding[far] < 0.01)
    # No popping: from spread to round over a few frames, never in one step (a hard switch
    # would step by 1).
    assert 0.2 < np.abs(np.diff(rounding)).max() < 0.5
    # A segment sees its neighbours' phones: slices of the whole, so joins do not jump.
    for a, b in [(0, 40), (37, 90), (90, n)]:
        assert np.array_equal(viseme_rounding(aligned, FPS, a, b - a), rounding[a:b])


def test_a_rounded_phone_shorter_than_a_frame_still_rounds_the_lips():
    short_w = PhoneAlignment(source="transcript", phones=[
        Phone(phone="SIL", word="<sil>", start_s=0.0, end_s=0.41),
        Phone(phone="W", word="we", start_s=0.41, end_s=0.435),
        Phone(phone="IY", word="we", start_s=0.435, end_s=0.6)])
    assert "rounded" not in viseme_frames(short_w, FPS, 0, 15)
    rounding = viseme_rounding(short_w, FPS, 0, 15)
    assert rounding[11] == 1.0 and 0 < rounding[12] < 1 and rounding[6] < 0.01


def test_other_languages_are_not_recognised_as_english(speech):
    """Without a transcript, a language other than English gets no phones and says why;
    English in any region still is recognised, and a transcript is still aligned."""
    result = align_phones(speech, None, language="zh")
    assert result.source == "none" and result.text == "" and not result.phones
    assert "'zh'" in result.note and "loudness" in result.note and "--transcript" in result.note
    assert np.all(viseme_caps(result, FPS, 0, 50) == 1.0)
    assert np.all(viseme_rounding(result, FPS, 0, 50) == 0.0)
    assert recognises("en") and recognises("en-gb") and not recognises("zh")
    assert align_phones(speech, TRANSCRIPT.read_text(), language="zh").source == "transcript"
