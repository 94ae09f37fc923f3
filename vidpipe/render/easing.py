"""The one easing curve the renderer uses for fades: joins, gesture ramps, warp edges."""

from __future__ import annotations

import numpy as np


def smoothstep(x):
    """0 below 0, 1 above 1, and 3x^2 - 2x^3 between: flat at both ends, so a fade
    starts and stops without a kink (scalars or arrays)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)
