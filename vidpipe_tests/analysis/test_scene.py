"""Offline scene analysis on synthetic scenes with known light, and on the demo scene."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.analysis.scene import SceneAnalysis, analyze_scene, estimate_horizon, mccamy_cct
from vidpipe.demo.images import demo_scene


def _lit_room(light_lin, side: str = "right", w: int = 320, h: int = 240) -> np.ndarray:
    """Grey surfaces lit by one coloured light (linear RGB, brightest channel 1) from one
    side: falloff across the room and the bright source itself."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if side == "right":
        d = (w - xx) / w
        src = (slice(60, 140), slice(w - 40, w - 5))
    elif side == "left":
        d = xx / w
        src = (slice(60, 140), slice(5, 40))
    else:  # top
        d = yy / h
        src = (slice(5, 30), slice(120, 200))
    lum = 0.85 * np.exp(-2.2 * d) + 0.03
    rng = np.random.default_rng(1)
    albedo = 0.8 + 0.2 * rng.random((h, w)).astype(np.float32)
    lin = lum[..., None] * albedo[..., None] * np.array(light_lin, np.float32)
    lin[src] = np.array(light_lin, np.float32)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(np.clip(lin, 0, 1), 1 / 2.4) - 0.055)
    return np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8)


def test_mccamy_reference_points():
    # D65 white is ~6500 K; CIE illuminant A (x, y = 0.4476, 0.4074) is 2856 K
    assert 6300 < mccamy_cct(np.array([1.0, 1.0, 1.0])) < 6700
    assert mccamy_cct(np.array([1.0, 0.44748545, 0.12645595])) == pytest.approx(2856, abs=15)


def test_warm_light_from_the_right():
    a = analyze_scene(_lit_room((1.0, 0.45, 0.13), "right"))
    assert a.light.label == "right"
    assert -45 < a.light.azimuth_deg < 45
    assert a.light.vector[0] > 0.7
    assert 2400 < a.light.colour_temperature_k < 3400
    assert a.warmth > 0.2 and "warm" in a.mood
    r, g, b = a.light.colour_rgb
    assert r == 255 and r > g > b


def test_cool_light_from_the_left():
    a = analyze_scene(_lit_room((0.55, 0.72, 1.0), "left"))
    assert a.light.label == "left"
    assert abs(a.light.azimuth_deg) > 135
    assert a.light.colour_temperature_k > 8000
    assert a.warmth < -0.2 and "cool" in a.mood


def test_light_from_the_top():
    a = analyze_scene(_lit_room((0.9, 0.9, 0.9), "top"))
    assert a.light.label == "top"
    assert 45 <= a.light.azimuth_deg <= 135


def test_dim_vs_bright():
    dim = analyze_scene((_lit_room((1.0, 0.5, 0.2)) * 0.3).astype(np.uint8))
    bright = analyze_scene(np.clip(_lit_room((1.0, 0.97, 0.92)).astype(int) + 120, 0, 255).astype(np.uint8))
    assert dim.mean_brightness < 0.28 and dim.mood.startswith("dim")
    assert bright.mean_brightness > dim.mean_brightness + 0.3
    assert bright.mood.startswith("bright")


def test_deterministic_and_serialisable():
    img = demo_scene()
    a, b = analyze_scene(img), analyze_scene(img)
    assert a == b
    assert a.schema_version == 1
    again = SceneAnalysis.model_validate_json(a.model_dump_json())
    assert again == a


def test_demo_scene_framing_and_focal_points():
    a = analyze_scene(demo_scene())
    # the launch pad is photographed from the ground looking up: horizon low in the frame
    assert a.framing.horizon > 0.75 and a.framing.angle == "low"
    assert a.framing.shot == "wide"
    assert a.mood.startswith("dim")
    assert 1 <= len(a.focal_points) <= 3
    for fp in a.focal_points:
        assert 0 <= fp.x <= 1 and 0 <= fp.y <= 1 and 0 < fp.weight <= 1


def test_horizon_of_a_ground_plane():
    from vidpipe_tests.render.embedded.conftest import make_ground_plane

    h = estimate_horizon(make_ground_plane(horizon=0.4))
    assert h.method == "vanishing"
    assert h.row == pytest.approx(0.4, abs=0.04)
    assert h.vanishing_point[0] == pytest.approx(0.5, abs=0.05)
