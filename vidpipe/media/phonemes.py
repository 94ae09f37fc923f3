"""Phones of the speech, so the lips follow phonemes and not only loudness.

pocketsphinx (its en-us model ships in the wheel) aligns the transcript when there is one,
or first recognises the words when there is not. Each frame then gets a viseme cap on the
mouth opening: shut for p/b/m, narrow for rounded o/u/w, wide for open vowels like "a"; and a
rounding amount, which the embedded mouth draws as lips pulled in and pushed out.
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


# The English model turns other languages into English nonsense (Mandarin speech came out as
# "closing it won't be issued the cell phone to call on it ..."), whose visemes are wrong. A
# guess from the recogniser's own confidence was measured and rejected: the frame-weighted
# word posterior is 0.91 (demo), 0.65 (RD_Radio31, English) vs 0.38 (chinese_poem1), but
# 4 s windows of the same recordings overlap (English radio 0.46-0.66, Mandarin 0.52-0.54),
# and so does the word-vs-phone-loop acoustic score (-2.7..-4.6 vs -4.4..-4.6 per frame).
# So the language is a project setting, not a guess.
def recognises(language: str) -> bool:
    """Whether words of `language` (a tag like en, en-gb, zh) can be recognised offline."""
    return language.split("-")[0] == "en"


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


def align_phones(samples16k: np.ndarray, transcript: str | None, language: str = "en"
                 ) -> PhoneAlignment:
    """Phones with times; falls back to no phones (and says why) when alignment fails.

    A word pass over the whole recording places the words; the phone pass then runs chunk
    by chunk (about CHUNK_S each, cut in silences) so its memory does not grow with the
    length of the recording. Without a transcript only English speech is recognised (see
    `recognises`); for any other `language` the lips follow loudness."""
    from pocketsphinx import Decoder

    source = "transcript" if transcript and transcript.strip() else "recognised"
    if source == "recognised" and not recognises(language):
        return PhoneAlignment(source="none", note=(
            f"language {language!r} without a transcript: only English is recognised "
            "offline, so lips follow loudness; pass --transcript for phoneme shapes"))
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


def _phone_of_frame(alignment: PhoneAlignment, fps: int, first_frame: int, n_frames: int
                    ) -> np.ndarray:
    """Index of the phone each frame's start time lies in; -1 where there is none."""
    out = np.full(n_frames, -1, np.int64)
    if not alignment.phones or n_frames <= 0:
        return out
    times = (first_frame + np.arange(n_frames)) / fps
    starts = np.array([p.start_s for p in alignment.phones])
    ends = np.array([p.end_s for p in alignment.phones])
    idx = np.searchsorted(starts, times, side="right") - 1
    ok = (idx >= 0) & (times < ends[np.clip(idx, 0, None)])
    out[ok] = idx[ok]
    return out


def _middle_frames(phones: list[Phone], fps: int, first_frame: int, n_frames: int
                   ) -> np.ndarray:
    """The frame nearest the middle of each phone (those within the range)."""
    f = np.array([int(round((p.start_s + p.end_s) / 2 * fps)) - first_frame for p in phones],
                 np.int64)
    return f[(f >= 0) & (f < n_frames)]


def _of_class(phones: list[Phone], cls: str) -> list[Phone]:
    return [p for p in phones if viseme_class(p.phone) == cls]


def viseme_frames(alignment: PhoneAlignment, fps: int, first_frame: int, n_frames: int
                  ) -> np.ndarray:
    """Per frame, the viseme class of its phone ("" where no phone is known). A bilabial
    shorter than a frame still claims the frame nearest its middle, so every p/b/m is seen."""
    classes = np.array([viseme_class(p.phone) for p in alignment.phones] + [""])
    out = classes[_phone_of_frame(alignment, fps, first_frame, n_frames)]
    out[_middle_frames(_of_class(alignment.phones, "closed"), fps, first_frame, n_frames)] = \
        "closed"
    return out


def viseme_caps(alignment: PhoneAlignment, fps: int, first_frame: int, n_frames: int
                ) -> np.ndarray:
    """Per frame, the largest opening its phone allows."""
    classes = viseme_frames(alignment, fps, first_frame, n_frames)
    caps = np.ones(n_frames, np.float32)
    for cls, cap in CAP.items():
        caps[classes == cls] = cap
    return caps


# Lips round ahead of a rounded vowel and relax after it (coarticulation): each rounded frame
# spreads as exp(-(k / ROUND_EASE_FRAMES)^2) over its neighbours k frames away, so the shape
# eases in and out over about three frames at 25 fps instead of popping.
ROUND_EASE_FRAMES = 1.6
_EASE_REACH = 4  # frames beyond which the spread is negligible (< 0.002)


def viseme_rounding(alignment: PhoneAlignment, fps: int, first_frame: int, n_frames: int
                    ) -> np.ndarray:
    """Per frame, how rounded the lips are in [0, 1]: 1 on o/u/w (and on the frame nearest
    the middle of a rounded phone too short to hold a frame), eased over the neighbours.
    Frames outside the range are looked at too, so segments join without a jump."""
    pad = _EASE_REACH
    n = n_frames + 2 * pad
    cls = viseme_frames(alignment, fps, first_frame - pad, n)
    target = (cls == "rounded").astype(np.float32)
    held = set(_phone_of_frame(alignment, fps, first_frame - pad, n).tolist())
    unseen = [p for k, p in enumerate(alignment.phones) if k not in held]
    target[_middle_frames(_of_class(unseen, "rounded"), fps, first_frame - pad, n)] = 1.0
    out = target.copy()
    for k in range(1, pad + 1):
        w = np.float32(np.exp(-(k / ROUND_EASE_FRAMES) ** 2))
        out[k:] = np.maximum(out[k:], w * target[:-k])
        out[:-k] = np.maximum(out[:-k], w * target[k:])
    return np.ascontiguousarray(out[pad:pad + n_frames], dtype=np.float32)


def apply_visemes(mouth_open: np.ndarray, caps: np.ndarray) -> np.ndarray:
    return np.minimum(mouth_open, caps).astype(np.float32)
