"""Lips follow phonemes: p/b/m shut the mouth, open vowels open it, from the transcript or
from offline recognition when there is none."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.demo.inputs import SPEECH, TRANSCRIPT
from vidpipe.media.audio import decode_audio, frame_features
from vidpipe.media.phonemes import align_phones, apply_visemes, viseme_caps, viseme_class

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
