"""Background masks, PSNR, flicker and join figures on arrays."""

import numpy as np
import pytest

from vidpipe.qa import scene
from vidpipe.render.embedded.layers import compose_layers
from vidpipe_tests.qa.conftest import blob_layers


def test_background_mask_leaves_out_person_motion_margin_and_shadow():
    layers = blob_layers()
    ref = scene.background_reference(layers, (640, 360))  # output upscaled 2x
    assert ref.background.shape == (360, 640, 3)
    x0, y0, x1, y1 = ref.person_box
    assert (x1 - x0, y1 - y0) == pytest.approx((102, 242), abs=6)
    assert not ref.mask[180, 320 + 50 + 5]  # just outside the person: in the motion margin
    assert not ref.mask[180 + 124, 320]  # the shadow under the feet
    assert ref.mask[20, 20] and ref.mask[180, 600]
    assert ref.small_mask.shape == (180, 320)


def test_psnr_of_the_composite_is_high_and_of_another_scene_low():
    layers = blob_layers()
    ref = scene.background_reference(layers, layers.size)
    frame = compose_layers(layers)
    assert scene.psnr(*scene.masked_sse(frame, ref.background, ref.mask)) == 99.0
    noisy = np.clip(frame + np.random.default_rng(0).normal(0, 2, frame.shape), 0, 255)
    assert 40 < scene.psnr(*scene.masked_sse(noisy.astype(np.uint8), ref.background,
                                             ref.mask)) < 44
    other = blob_layers(seed=5).background
    assert scene.psnr(*scene.masked_sse(other, ref.background, ref.mask)) < 20


def test_flicker_and_join_ratio():
    std, diff = scene.flicker(np.array([100, 100.2, 99.9, 100.1]), np.array([0.1, 0.2]))
    assert std < 0.2 and diff == pytest.approx(0.15)
    assert scene.join_ratio(3.0, np.array([1.0, 1.2, 0.8])) == pytest.approx(3.0)
    # inside a burst of motion the join is compared with its neighbours
    assert scene.join_ratio(3.0, np.array([1.0, 1.2, 0.8]), np.array([2.5, 3.2])) < 1
    # a static video: the floor keeps invisible changes from looking like a jump
    assert scene.join_ratio(0.1, np.array([0.01, 0.02])) < 1
