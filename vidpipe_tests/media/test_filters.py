"""The FFT zero-phase Butterworth filter against scipy.signal's design and sosfiltfilt."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, sosfreqz

from vidpipe.media.filters import butterworth_power, fast_length, zero_phase_filter

CASES = [(4, 300.0, 3000.0), (2, 80.0, None), (3, None, 1000.0)]


def _sos(order, low, high, rate):
    if low and high:
        return butter(order, [low, high], btype="bandpass", fs=rate, output="sos")
    if low:
        return butter(order, low, btype="highpass", fs=rate, output="sos")
    return butter(order, high, btype="lowpass", fs=rate, output="sos")


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize(("order", "low", "high"), CASES)
def test_power_response_is_the_designed_filters(rate, order, low, high):
    n_fft = 4096
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    _, h = sosfreqz(_sos(order, low, high, rate), worN=freqs, fs=rate)
    ours = butterworth_power(n_fft, rate, order, low_hz=low, high_hz=high)
    np.testing.assert_allclose(ours, np.abs(h) ** 2, atol=1e-9)


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize(("order", "low", "high"), CASES)
def test_filtering_equals_sosfiltfilt_away_from_the_ends(rate, order, low, high):
    x = np.random.default_rng(rate).standard_normal(rate * 2)
    ours = zero_phase_filter(x, rate, order, low_hz=low, high_hz=high)
    ref = sosfiltfilt(_sos(order, low, high, rate), x)
    inner = slice(rate // 4, -rate // 4)
    assert ours.shape == x.shape
    assert np.abs(ours[inner] - ref[inner]).max() < 1e-9 * np.abs(ref).max()
    # at the ends the two extend the signal differently; both stay bounded
    assert np.abs(ours).max() < 2 * np.abs(ref).max()


def test_short_and_constant_signals():
    assert zero_phase_filter(np.ones(5), 16000, 2, low_hz=80.0).shape == (5,)
    flat = zero_phase_filter(np.full(4000, 0.5), 16000, 2, low_hz=80.0)
    assert np.abs(flat).max() < 1e-9  # a high-pass removes a constant, ends included
    with pytest.raises(ValueError):
        butterworth_power(64, 16000, 2)


def test_fast_length_is_the_next_5_smooth_number():
    def smooth(v):
        for p in (2, 3, 5):
            while v % p == 0:
                v //= p
        return v == 1

    for n in [1, 2, 7, 97, 1000, 1025, 137_000, 200_003]:
        got = fast_length(n)
        assert got >= n and smooth(got)
        assert not any(smooth(v) for v in range(n, got))


def test_the_audio_analysis_does_not_import_scipy_signal():
    """scipy.signal costs ~1 s to import; the render's analysis and fork server skip it."""
    code = ("import sys, vidpipe.media.audio, vidpipe.render.warm; "
            "print('scipy.signal' in sys.modules, 'scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout
