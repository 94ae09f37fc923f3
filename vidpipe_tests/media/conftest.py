"""Test audio for the media tests: synthetic signals, flite speech with known pauses, encoders.

flite is required (CI installs it): speech with pauses at known sample positions is the only
way to check that cuts land in pauses without shipping recordings, so a missing flite fails.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf

import vidpipe

SR = 16000
DEMO_WAV = Path(vidpipe.__file__).parent / "demo" / "speech.wav"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()

PHRASES = (
    "Previewing a video takes only a moment",
    "Check that the lips follow every word",
    "Then adjust the scene and the lighting",
    "Export the final cut when you are ready",
    "Share the result with your team",
    "Everyone can leave comments on the draft",
)
PAUSES_S = (0.5, 0.7, 0.45, 0.9, 0.6)   # between consecutive phrases
EDGE_SILENCE_S = 0.3


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly; tests use it to make every input format."""
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *args], check=True)


def write_wav(path: Path, samples: np.ndarray, sr: int = SR) -> Path:
    """16-bit PCM like a typical user upload."""
    sf.write(path, samples, sr, subtype="PCM_16")
    return path


def noise(seconds: float, level: float = 0.1, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Stationary white noise: loud, never quiet, never speech."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, level, int(seconds * sr)), -1, 1).astype(np.float32)


def tone(seconds: float, hz: float, sr: int, amp: float = 0.5) -> np.ndarray:
    """A sine, for checking rates and channel mixing by frequency."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture(scope="session")
def flite_phrase(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], np.ndarray]:
    """text -> flite 'slt' speech at 16 kHz with its own leading/trailing silence trimmed."""
    exe = shutil.which("flite")
    if exe is None:
        pytest.fail("flite is not on PATH: install it (apt-get install flite); the audio "
                    "tests need synthetic speech with known pauses")
    out_dir = tmp_path_factory.mktemp("flite")

    def make(text: str) -> np.ndarray:
        """Trimmed, so the pauses the fixtures insert are the only pauses between phrases."""
        out = out_dir / f"{hashlib.sha1(text.encode()).hexdigest()[:12]}.wav"
        subprocess.run([exe, "-voice", "slt", "-t", text, "-o", str(out)], check=True)
        x, sr = sf.read(out, dtype="float32")
        assert sr == SR, f"flite produced {sr} Hz"
        loud = np.nonzero(np.abs(x) > 10 ** (-50 / 20))[0]
        return x[loud[0]:loud[-1] + 1]

    return make


@dataclass
class PausedSpeech:
    """Speech whose pauses (inserted digital silence) are known exactly, in samples."""

    samples: np.ndarray
    pauses: list[tuple[int, int]]

    def in_pause(self, sample: int, margin_s: float = 0.03) -> bool:
        """True if `sample` lies inside a pause, at least margin_s from the words around it."""
        m = int(margin_s * SR)
        return any(a + m <= sample <= b - m for a, b in self.pauses)


@pytest.fixture(scope="session")
def paused_speech(flite_phrase: Callable[[str], np.ndarray]) -> PausedSpeech:
    """~18 s of six phrases with 0.45-0.9 s pauses: long enough to need several segments."""
    edge = np.zeros(int(EDGE_SILENCE_S * SR), dtype=np.float32)
    parts, pauses, pos = [edge], [], edge.size
    for i, text in enumerate(PHRASES):
        words = flite_phrase(text)
        parts.append(words)
        pos += words.size
        if i < len(PAUSES_S):
            gap = np.zeros(int(PAUSES_S[i] * SR), dtype=np.float32)
            pauses.append((pos, pos + gap.size))
            parts.append(gap)
            pos += gap.size
    parts.append(edge)
    return PausedSpeech(samples=np.concatenate(parts), pauses=pauses)


@pytest.fixture(scope="session")
def demo_samples() -> np.ndarray:
    """The shipped demo recording, read directly (not through the code under test)."""
    x, sr = sf.read(DEMO_WAV, dtype="float32")
    assert sr == SR and x.ndim == 1
    return x
