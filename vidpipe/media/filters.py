"""Filters the audio analysis needs, with numpy alone: importing scipy's costs a render.

Moving minimum and moving mean over a few frames replace scipy.ndimage's
`minimum_filter1d` and `uniform_filter1d` (mode "nearest"): importing scipy.ndimage costs
~0.5 s (scipy 1.17 parses the docstrings of its functions at import), paid by every process
that analyses the audio or computes a segment's features, a one-segment re-render among
them. Both give scipy's values bit for bit (tested against scipy).

Zero-phase Butterworth filtering in the frequency domain:

The audio analysis used scipy.signal's `butter` + `sosfiltfilt`. Importing scipy.signal
costs about 1 s of CPU (it pulls in scipy.stats), paid at the start of every render by the
process that analyses the audio and again by the fork server the segment workers come
from. A forward-backward IIR filter has the amplitude response |H|^2 and no phase, so the
same result is a multiplication of the spectrum by |H|^2, where H is the digital
Butterworth response that `butter` designs (bilinear transform with prewarped edges).
Away from the ends of the signal the two agree to rounding error (1e-14 relative on the
sample recordings); at the ends both extend the signal by odd reflection, over a longer
stretch here, so the first and last few milliseconds differ slightly.
"""

from __future__ import annotations

import math

import numpy as np

_REFLECT_S = 0.25  # odd-reflected signal at each end: the filters' transients die out in it


def butterworth_power(n_fft: int, rate: float, order: int, *, low_hz: float | None = None,
                      high_hz: float | None = None) -> np.ndarray:
    """|H|^2 on the `n_fft // 2 + 1` rfft bins: high-pass (low_hz), low-pass (high_hz) or
    band-pass (both) of the given order, as `scipy.signal.butter(..., fs=rate)` designs it."""
    if low_hz is None and high_hz is None:
        raise ValueError("a Butterworth filter needs low_hz, high_hz or both")
    w = 2.0 * np.pi * np.arange(n_fft // 2 + 1) / n_fft  # radians per sample, 0..pi
    # The bilinear transform maps digital frequency w to analog tan(w / 2).
    t = np.tan(np.minimum(w, np.pi * (1 - 1e-12)) / 2.0)
    lo = math.tan(math.pi * low_hz / rate) if low_hz is not None else None
    hi = math.tan(math.pi * high_hz / rate) if high_hz is not None else None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if lo is not None and hi is not None:
            x = (t * t - lo * hi) / ((hi - lo) * t)  # low-pass prototype -> band-pass
        elif lo is not None:
            x = lo / t
        else:
            x = t / hi
        x = np.where(t == 0.0, np.inf if lo is not None else 0.0, x)
        return 1.0 / (1.0 + np.abs(x) ** (2 * order))


def zero_phase_filter(x: np.ndarray, rate: float, order: int, *, low_hz: float | None = None,
                      high_hz: float | None = None) -> np.ndarray:
    """The forward-backward Butterworth filtering of `x` (float64, same length)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    pad = min(n - 1, int(round(_REFLECT_S * rate)))
    if pad > 0:
        head = 2.0 * x[0] - x[pad:0:-1]
        tail = 2.0 * x[-1] - x[-2:-pad - 2:-1]
        x = np.concatenate([head, x, tail])
    # Zero padding beyond the reflections keeps the circular convolution from wrapping.
    n_fft = fast_length(x.size + pad + 1)
    power = butterworth_power(n_fft, rate, order, low_hz=low_hz, high_hz=high_hz)
    y = np.fft.irfft(np.fft.rfft(x, n_fft) * power, n_fft)
    return y[pad:pad + n]


def fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: lengths numpy's FFT computes quickly."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            v = p35
            while v < n:
                v *= 2
            best = min(best, v)
            p35 *= 3
        p5 *= 5
    return best


def _edge_padded(x: np.ndarray, size: int) -> np.ndarray:
    """`x` extended by its end values as scipy.ndimage's window of `size` (origin 0) reads
    it: size // 2 before each sample, the rest after."""
    left = size // 2
    right = size - left - 1
    return np.concatenate([np.full(left, x[0]), x, np.full(right, x[-1])])


def moving_min(x: np.ndarray, size: int) -> np.ndarray:
    """`scipy.ndimage.minimum_filter1d(x, size, mode="nearest")`."""
    x = np.asarray(x)
    if size < 1 or x.size == 0:
        raise ValueError(f"moving_min needs size >= 1 and samples, got {size} and {x.size}")
    return np.lib.stride_tricks.sliding_window_view(_edge_padded(x, size), size).min(axis=1)


def moving_mean(x: np.ndarray, size: int) -> np.ndarray:
    """`scipy.ndimage.uniform_filter1d(x, size, mode="nearest")` on float64, to the bit:
    scipy keeps a running sum (the first window added in order, then each step adds the
    sample entering and takes the one leaving) and divides each sum by `size`; a
    cumulative sum is that same sequence of additions."""
    x = np.asarray(x, np.float64)
    if size < 1 or x.size == 0:
        raise ValueError(f"moving_mean needs size >= 1 and samples, got {size} and {x.size}")
    ext = _edge_padded(x, size)
    steps = np.empty(x.size)
    steps[0] = np.cumsum(ext[:size])[-1]
    steps[1:] = ext[size:] - ext[:x.size - 1]
    return np.cumsum(steps) / size
