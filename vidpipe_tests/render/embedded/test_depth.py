"""Classical depth: a ground plane comes nearer towards the bottom, sky is far."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.render.embedded.depth import DepthEstimate, depth_to_grey, estimate_depth


def test_ground_plane_depth_increases_downwards(ground_plane):
    est = estimate_depth(ground_plane)
    h, w = ground_plane.shape[:2]
    assert isinstance(est, DepthEstimate)
    assert est.depth.shape == (h, w) and est.depth.dtype == np.float32
    assert 0.0 <= est.depth.min() and est.depth.max() <= 1.0
    assert est.horizon_row == pytest.approx(0.4 * h, abs=0.05 * h)
    top, bottom = est.ground_rows
    assert est.horizon_row <= top < bottom == h - 1
    rows = np.linspace(top + 5, h - 3, 6).astype(int)
    means = [float(est.depth[r].mean()) for r in rows]
    assert all(b > a for a, b in zip(means, means[1:])), means
    assert means[-1] > 0.8
    # the sky is the farthest thing
    assert est.depth[: int(0.3 * h)].mean() < 0.1


def test_demo_scene_depth(scene_rgb, demo_depth):
    d = demo_depth.depth
    h, w = d.shape
    assert d.shape == scene_rgb.shape[:2]
    assert d[int(0.97 * h):].mean() > 0.7  # launch pad apron at the bottom is near
    assert d[: int(0.3 * h), w // 3: 2 * w // 3].mean() < 0.15  # dusk sky is far
    assert 0.8 * h < demo_depth.horizon_row < h


def test_grey_png_rendering(demo_depth):
    g = demo_depth.to_png()
    assert g.dtype == np.uint8 and g.shape == demo_depth.depth.shape
    assert g.min() < 20 and g.max() > 235
    assert np.array_equal(g, depth_to_grey(demo_depth.depth))


def test_deterministic(ground_plane):
    a, b = estimate_depth(ground_plane), estimate_depth(ground_plane)
    assert np.array_equal(a.depth, b.depth) and a.ground_rows == b.ground_rows
