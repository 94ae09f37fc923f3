"""Frame/sample arithmetic shared by every stage.

Frame boundaries are derived from absolute sample positions (never from per-segment
durations), so segments join without gaps and the total never drifts, however many there are.
"""

from __future__ import annotations


def frame_at(sample: int, sample_rate: int, fps: int) -> int:
    """The frame whose time slot holds `sample`, rounding half up: frame f owns the audio
    centred on f / fps, so segment boundaries map to frame boundaries without drift."""
    return (sample * fps * 2 + sample_rate) // (sample_rate * 2)


def frame_range(start_sample: int, end_sample: int, sample_rate: int, fps: int) -> tuple[int, int]:
    """Global [first_frame, end_frame) covering the sample range [start, end)."""
    return frame_at(start_sample, sample_rate, fps), frame_at(end_sample, sample_rate, fps)


def total_frames(n_samples: int, sample_rate: int, fps: int) -> int:
    return frame_at(n_samples, sample_rate, fps)
