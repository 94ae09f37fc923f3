"""What a retried segment may change without breaking its joins.

Segments are rendered one by one, but they must read as one continuous take: a frame at a
segment's edge has to be the frame its neighbour expects. Attempt 1 of every segment uses
the project's locked motion seed, so any two neighbours agree at their join. A retry of one
segment (the take loop's new seed, gentler gestures) varies only its inside: its change is
weighted by `edge_weight`, which is 0 on the first and last frame and 1 away from them.
Segments are cut at pauses, so the ramp falls where the body is at rest.
"""

from __future__ import annotations

import numpy as np

from vidpipe.render.easing import smoothstep

EDGE_RAMP_S = 0.6  # seconds over which a retry's change fades in after a join and out before


def edge_weight(n_frames: int, fps: float, ramp_s: float = EDGE_RAMP_S) -> np.ndarray:
    """float64 (n,): 0 at both ends, rising smoothly to 1 over `ramp_s` (lower in segments
    shorter than two ramps)."""
    if n_frames <= 0:
        return np.zeros(0)
    i = np.arange(n_frames, dtype=np.float64)
    ramp = max(1.0, ramp_s * fps)
    return smoothstep(np.minimum(i, n_frames - 1 - i) / ramp)


def blend_inside(base: np.ndarray, variant: np.ndarray, fps: float) -> np.ndarray:
    """`variant` inside the segment, exactly `base` on its first and last frame (axis 0 is
    the frame)."""
    w = edge_weight(base.shape[0], fps).reshape((-1,) + (1,) * (base.ndim - 1))
    return base + w * (variant - base)
