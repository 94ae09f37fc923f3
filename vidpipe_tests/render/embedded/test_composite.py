"""Placement, relighting and shadow of the person in the scene."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.render.embedded.composite import (MEDIUM_HEAD_TOP, build_composite,
                                               composite_image, fit_scene)
from vidpipe.render.embedded.layers import CompositeLayers, compose_layers


@pytest.fixture(scope="module")
def layers_by_size(demo_cutout, scene_rgb, demo_depth, demo_scene_analysis):
    return {size: build_composite(demo_cutout, scene_rgb, demo_depth, demo_scene_analysis,
                                  size, seed=7) for size in [(640, 360), (360, 640)]}


@pytest.mark.parametrize("size", [(640, 360), (360, 640)])
def test_layer_shapes(layers_by_size, size):
    lay = layers_by_size[size]
    W, H = size
    assert isinstance(lay, CompositeLayers) and lay.size == (W, H)
    assert lay.background.shape == (H, W, 3) and lay.background.dtype == np.uint8
    assert lay.person.shape == (H, W, 4) and lay.person.dtype == np.uint8
    assert lay.shadow.shape == (H, W) and lay.shadow.dtype == np.float32
    assert 0.0 <= lay.shadow.min() and lay.shadow.max() <= 1.0


@pytest.mark.parametrize("size", [(640, 360), (360, 640)])
def test_upper_body_is_a_medium_shot(layers_by_size, demo_cutout, size):
    lay = layers_by_size[size]
    W, H = size
    a = lay.person[..., 3] > 127
    ys, xs = np.nonzero(a)
    # cut by the frame bottom, at the anchor
    assert ys.max() == H - 1
    assert lay.anchor[1] == pytest.approx(H)
    bottom = np.nonzero(a[H - 1])[0]
    assert bottom.min() <= lay.anchor[0] <= bottom.max()
    # head top in the upper part of the frame, body 50-70 % of the frame height
    assert 0.28 * H <= ys.min() <= 0.5 * H
    assert 0.5 <= (H - ys.min()) / H <= 0.72
    # scale is what the layer shows: the cut-out's height above the cut, times scale
    src_top = np.nonzero(demo_cutout[..., 3] > 127)[0].min()
    assert lay.scale > 0
    rows_shown = (H - ys.min()) / lay.scale
    assert rows_shown <= demo_cutout.shape[0] - src_top + 2
    # off-centre
    assert abs(np.mean(xs) - W / 2) > 0.04 * W or W < H


def test_background_is_the_scene_cover_crop(layers_by_size, scene_rgb, demo_depth):
    bg, dframe, horizon, ground, k, crop_x = fit_scene(scene_rgb, demo_depth, (640, 360))
    assert np.array_equal(bg, layers_by_size[(640, 360)].background)
    assert 0 <= ground[0] < ground[1] == 359
    assert dframe.shape == (360, 640)


def test_composite_image_is_the_shared_blend(layers_by_size):
    lay = layers_by_size[(640, 360)]
    img = composite_image(lay)
    assert np.array_equal(img, compose_layers(lay))
    a = lay.person[..., 3] == 255
    assert np.array_equal(img[a], lay.person[..., :3][a])


def test_person_is_relit_towards_the_scene(layers_by_size, demo_cutout, demo_depth):
    """The same person in the dusk scene is darker and bluer than in a bright warm room."""
    from vidpipe.analysis.scene import analyze_scene

    dusk = layers_by_size[(640, 360)]
    h, w = 427, 640
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    warm = np.stack([235 - 0.1 * yy, 200 - 0.1 * yy, 150 - 0.1 * yy], axis=2)
    warm = np.clip(warm + np.random.default_rng(0).normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    bright = build_composite(demo_cutout, warm, demo_depth, analyze_scene(warm), (640, 360),
                             seed=7)

    def stats(lay):
        px = lay.person[..., :3][lay.person[..., 3] == 255].astype(float)
        return px.mean(), (px[:, 2] - px[:, 0]).mean()

    src = demo_cutout[..., :3][demo_cutout[..., 3] == 255].astype(float)
    (d_mean, d_blue), (b_mean, b_blue) = stats(dusk), stats(bright)
    assert d_mean < b_mean - 15
    assert d_blue > b_blue + 10
    # partial: the person keeps most of their own look
    assert abs(d_mean - src.mean()) < 40 and abs(b_mean - src.mean()) < 40


def _standing_figure(h: int = 600, w: int = 200) -> np.ndarray:
    """A tall, free-standing silhouette (no face: pose detection finds nothing, so the
    composite treats it as a full-body person standing on its lowest row)."""
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = (90, 110, 160)
    yy, xx = np.mgrid[0:h, 0:w]
    body = ((xx - w / 2) / 45) ** 2 + ((yy - 0.45 * h) / (0.42 * h)) ** 2 <= 1
    head = np.hypot(xx - w / 2, yy - 0.08 * h) < 0.06 * h
    legs = (yy > 0.5 * h) & (yy < 0.95 * h) & (np.abs(np.abs(xx - w / 2) - 18) < 12)
    rgba[..., 3] = ((body | head | legs) * 255).astype(np.uint8)
    return rgba


@pytest.mark.parametrize("light_x", [1.0, -1.0])
def test_full_body_stands_on_the_ground_with_shadow_away_from_light(
        ground_plane, demo_scene_analysis, light_x):
    from vidpipe.render.embedded.depth import estimate_depth

    depth = estimate_depth(ground_plane)
    scene = demo_scene_analysis.model_copy(update={"focal_points": []})
    light = scene.light.model_copy(update={"vector": (light_x, 0.0), "strength": 1.0,
                                           "hardness": 0.6})
    scene = scene.model_copy(update={"light": light})
    figure = _standing_figure()
    W, H = 640, 360
    lay = build_composite(figure, ground_plane, depth, scene, (W, H), seed=1)
    a = lay.person[..., 3] > 127
    ys, xs = np.nonzero(a)
    ax, ay = lay.anchor
    # feet where the anchor says, on the ground band
    assert ys.max() == pytest.approx(ay, abs=2)
    _, _, horizon, ground, _, _ = fit_scene(ground_plane, depth, (W, H))
    assert ground[0] <= ay <= ground[1]
    assert xs[ys >= ys.max() - 3].mean() == pytest.approx(ax, abs=4)
    # height from the figure's height and the scale, 50-68 % of the frame
    height = ys.max() - ys.min() + 1
    src_h = np.nonzero(figure[..., 3] > 127)[0].ptp() + 1
    assert height == pytest.approx(src_h * lay.scale, abs=3)
    assert 0.48 * H <= height <= 0.7 * H
    # shadow: outside the person, its mass lies on the side opposite the light
    sh = lay.shadow * ~a
    assert sh.sum() > 50
    cols = np.nonzero(sh.sum(axis=0) > 0)[0]
    cx = (sh.sum(axis=0) * np.arange(W)).sum() / sh.sum()
    assert np.sign(cx - ax) == -np.sign(light_x)
    assert cols.size > 0
    # the shadow touches the feet (contact), it does not float
    assert lay.shadow[int(ay) - 2:int(ay) + 3, int(ax) - 5:int(ax) + 6].max() > 0.3


def test_medium_shot_shadow_opposite_the_light(demo_cutout, scene_rgb, demo_depth,
                                               demo_scene_analysis):
    for vx in (1.0, -1.0):
        light = demo_scene_analysis.light.model_copy(update={"vector": (vx, 0.0)})
        scene = demo_scene_analysis.model_copy(update={"light": light})
        lay = build_composite(demo_cutout, scene_rgb, demo_depth, scene, (640, 360), seed=7)
        a = lay.person[..., 3] > 127
        sh = lay.shadow * ~a
        cx = (sh.sum(axis=0) * np.arange(640)).sum() / sh.sum()
        assert np.sign(cx - lay.anchor[0]) == -np.sign(vx)


def test_deterministic(demo_cutout, scene_rgb, demo_depth, demo_scene_analysis,
                       layers_by_size):
    again = build_composite(demo_cutout, scene_rgb, demo_depth, demo_scene_analysis,
                            (640, 360), seed=7)
    ref = layers_by_size[(640, 360)]
    assert np.array_equal(again.person, ref.person) and again.anchor == ref.anchor
    assert MEDIUM_HEAD_TOP == pytest.approx(0.36)
