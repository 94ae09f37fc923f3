"""Phones of the speech, so the lips follow phonemes and not only loudness.

pocketsphinx (its en-us model ships in the wheel) aligns the transcript when there is one,
or first recognises the words when there is not. Each frame then gets a viseme cap on the
mouth opening: shut for p/b/m, narrow for rounded o/u/w, wide for open vowels like "a".
Rounding itself (narrower lips) is not drawn by the embedded mouth; only the opening is.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, Field

CLOSED = {"P", "B", "M"}
ROUNDED = {"OW", "UW", "UH", "W", "OY"}
OPEN = {"AA", "AE", "AH", "AY", "AW", "AO"}
MID = {"EH", "ER", "EY", "IH", "IY"}

# The largest mouth opening each class allows (features.mouth_open is in [0, 1]).
CAP = {"closed": 0.0, "rounded": 0.55, "open": 1.0, "mid": 0.85, "consonant": 0.7,
       "silence": 1.0}


class Phone(BaseModel):
    phone: str
    word: str
    start_s: float
    end_s: float


class PhoneAlignment(BaseModel):
    schema_version: int = 1
    source: str  # "transcript" | "recognised" | "none"
    text: str = ""
    dropped_words: list[str] = Field(default_factory=list)  # not in the pronouncing dictionary
    note: str = ""
    phones: list[Phone] = Field(default_factory=list)


def viseme_class(phone: str) -> str:
    p = phone.upper().rstrip("012")
    if p in ("SIL", "+SPN+", "+NSN+") or p.startswith("+"):
        return "silence"
    if p in CLOSED:
        return "closed"
    if p in ROUNDED:
        return "rounded"
    if p in OPEN:
        return "open"
    if p in MID:
        return "mid"
    return "consonant"


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


# Search limits for recognition: at most 3000 active HMMs per frame and the 2 best Gaussians
# per mixture. Measured on the demo speech and RD_Radio31: 1.8x faster (2.2 -> 1.6 s and
# 3.0 -> 1.7 s), the same words on the demo (WER 0 against its transcript), one word
# different on RD_Radio31. Tighter beams were faster still but lost half the words.
RECOGNITION_LIMITS = {"maxhmmpf": 3000, "topn": 2}


def recognise(samples16k: np.ndarray) -> str:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, **RECOGNITION_LIMITS)
    decoder.start_utt()
    decoder.process_raw(_pcm16(samples16k), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


CHUNK_S = 20.0  # the phone pass runs per chunk: its memory grows with utterance length


def _align(decoder, pcm: bytes, words: list[str], phones: bool):
    decoder.set_align_text(" ".join(words))
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    if not phones:
        return [(seg.word, seg.start_frame / 100.0, seg.end_frame / 100.0)
                for seg in decoder.seg()]
    decoder.set_alignment()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return [(w.name, ph.name, ph.start / 100.0, (ph.start + ph.duration) / 100.0)
            for w in decoder.get_alignment() for ph in w]


def _chunks(word_times: list[tuple[str, float, float]]) -> list[tuple[float, float, list[str]]]:
    """Consecutive words grouped into spans of about CHUNK_S, cut in silences."""
    chunks, words, start, end = [], [], None, 0.0
    for word, a, b in word_times:
        if word.startswith("<") or word.startswith("["):
            if words and end - start >= CHUNK_S:
                chunks.append((start, (end + a) / 2 if a > end else end, words))
                words, start = [], None
            continue
        if start is None:
            start = chunks[-1][1] if chunks else 0.0
        words.append(re.sub(r"\(\d+\)$", "", word))
        end = b
    if words:
        chunks.append((start, None, words))
    return chunks


def align_phones(samples16k: np.ndarray, transcript: str | None) -> PhoneAlignment:
    """Phones with times; falls back to no phones (and says why) when alignment fails.

    A word pass over the whole recording places the words; the phone pass then runs chunk
    by chunk (about CHUNK_S each, cut in silences) so its memory does not grow with the
    length of the recording."""
    from pocketsphinx import Decoder

    source = "transcript" if transcript and transcript.strip() else "recognised"
    text = transcript if source == "transcript" else recognise(samples16k)
    decoder = Decoder(samprate=16000, bestpath=False)
    words = _words(text)
    known = [w for w in words if decoder.lookup_word(w) is not None]
    dropped = [w for w in words if decoder.lookup_word(w) is None]
    if not known:
        return PhoneAlignment(source="none", text=text, dropped_words=dropped,
                              note="no known words to align: lips follow loudness only")
    phones: list[Phone] = []
    try:
        word_times = _align(decoder, _pcm16(samples16k), known, phones=False)
        for start, end, chunk_words in _chunks(word_times):
            a = int(start * 16000)
            b = len(samples16k) if end is None else int(end * 16000)
            for word, phone, p0, p1 in _align(decoder, _pcm16(samples16k[a:b]), chunk_words,
                                              phones=True):
                phones.append(Phone(phone=phone, word=word, start_s=start + p0,
                                    end_s=start + p1))
    except RuntimeError as exc:
        return PhoneAlignment(source="none", text=text, dropped_words=dropped,
                              note=f"alignment failed ({exc}): lips follow loudness only")
    return PhoneAlignment(source=source, text=" ".join(known), dropped_words=dropped,
                          phones=phones)


def viseme_caps(alignment: PhoneAlignment, fps: int, first_frame: int, n_frames: int
                ) -> np.ndarray:
    """Per frame, the largest opening its phone allows. A bilabial shorter than a frame
    still closes the frame nearest to its middle, so every p/b/m is seen."""
    caps = np.ones(n_frames, np.float32)
    if not alignment.phones:
        return caps
    times = (first_frame + np.arange(n_frames)) / fps
    starts = np.array([p.start_s for p in alignment.phones])
    ends = np.array([p.end_s for p in alignment.phones])
    idx = np.searchsorted(starts, times, side="right") - 1
    for i, k in enumerate(idx):
        if 0 <= k < len(alignment.phones) and times[i] < ends[k]:
            caps[i] = CAP[viseme_class(alignment.phones[k].phone)]
    for p in alignment.phones:
        if viseme_class(p.phone) == "closed":
            f = int(round((p.start_s + p.end_s) / 2 * fps)) - first_frame
            if 0 <= f < n_frames:
                caps[f] = 0.0
    return caps


def apply_visemes(mouth_open: np.ndarray, caps: np.ndarray) -> np.ndarray:
    return np.minimum(mouth_open, caps).astype(np.float32)
