"""The FFT zero-phase Butterworth filter against scipy.signal's design and sosfiltfilt."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, sosfreqz

from vidpipe.media.filters import (butterworth_power, fast_length, moving_mean, moving_min,
                                   zero_phase_filter)

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


def test_moving_min_and_mean_are_scipys_to_the_bit():
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    rng = np.random.default_rng(7)
    cases = [(1, 1), (1, 20), (5, 11), (7, 20), (140, 20), (140, 11), (1250, 20), (3000, 57)]
    cases += [(int(rng.integers(1, 2000)), int(rng.integers(1, 64))) for _ in range(300)]
    for n, size in cases:
        x = (rng.random(n) - 0.3) * rng.choice([1e-3, 1.0, 1e3])
        assert np.array_equal(moving_mean(x, size),
                              uniform_filter1d(x, size=size, mode="nearest")), (n, size)
        assert np.array_equal(moving_min(x, size),
                              minimum_filter1d(x, size=size, mode="nearest")), (n, size)
    for bad in [(np.ones(3), 0), (np.ones(0), 3)]:
        with pytest.raises(ValueError):
            moving_mean(*bad)
        with pytest.raises(ValueError):
            moving_min(*bad)


def test_the_audio_analysis_does_not_import_scipy_signal_or_ndimage():
    """scipy.signal costs ~1 s to import and scipy.ndimage ~0.5 s; the render's analysis,
    a segment's features and the fork server skip both."""
    code = ("import sys, vidpipe.media.audio; ndimage = 'scipy.ndimage' in sys.modules; "
            "import vidpipe.render.warm; "
            "print('scipy.signal' in sys.modules, 'scipy.stats' in sys.modules, ndimage)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split()[-3:] == ["False", "False", "False"], out.stdout
