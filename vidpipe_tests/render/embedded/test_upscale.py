"""Upscale (Lanczos, optional unsharp) with temporal deflicker: size and exact frame count."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.media.video import ClipWriter, iter_frames, probe_video
from vidpipe.render.embedded.deflicker import LumaStabilizer, ffmpeg_deflicker_filter, frame_luma
from vidpipe.render.embedded.upscale import upscale_clip

FPS = 25


def _frames(n: int, w: int = 160, h: int = 90, flicker: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.dstack([60 + xx, 80 + yy, 140 - xx // 2]).astype(np.float32)
    for i in range(n):
        f = base.copy()
        f[30:60, 40 + i % 40:60 + i % 40] = 220  # something moving
        g = 1.0 + flicker * rng.standard_normal()
        yield np.clip(f * g + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "small.mp4"
    with ClipWriter(path, (160, 90), FPS) as w:
        for f in _frames(23, flicker=0.03):
            w.write(f)
    return path


@pytest.mark.parametrize("deflicker,method", [(True, "numpy"), (True, "ffmpeg"),
                                              (False, "numpy")])
def test_upscale_size_and_frame_count(clip, tmp_path, deflicker, method):
    out = tmp_path / "big.mp4"
    res = upscale_clip(clip, out, (320, 180), deflicker=deflicker, method=method)
    info = probe_video(out)
    assert (info.width, info.height) == (320, 180) == res.size
    assert info.n_frames == res.n_frames == 23
    assert info.fps == pytest.approx(FPS)


def test_upscale_odd_target_becomes_even(clip, tmp_path):
    res = upscale_clip(clip, tmp_path / "o.mp4", (333, 187))
    assert res.size == (334, 188) and res.n_frames == 23


def test_deflicker_reduces_flicker_and_keeps_stable_frames():
    flick = list(_frames(60, flicker=0.04, seed=1))
    stab = LumaStabilizer(window=9)
    out = list(stab.process(iter(flick)))
    assert len(out) == 60
    before = np.std(np.diff([frame_luma(f) for f in flick]))
    after = np.std(np.diff([frame_luma(f) for f in out]))
    assert after < 0.5 * before
    stable = list(_frames(30))
    again = list(LumaStabilizer(window=9).process(iter(stable)))
    assert all(a is b for a, b in zip(stable, again))  # untouched, bit-exact


@pytest.mark.parametrize("n", [1, 2, 5, 9, 10])
def test_deflicker_keeps_every_frame_in_order(n):
    frames = list(_frames(n, flicker=0.05, seed=n))
    out = list(LumaStabilizer(window=9).process(iter(frames)))
    assert len(out) == n
    for a, b in zip(frames, out):  # same content (at most a small gain)
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 0.15 * a.mean()


def test_ffmpeg_filter_string():
    assert ffmpeg_deflicker_filter(5) == "deflicker=size=5:mode=pm"


def test_upscaled_frames_resemble_the_input(clip, tmp_path):
    res = upscale_clip(clip, tmp_path / "b.mp4", (320, 180), deflicker=False)
    small = next(iter(iter_frames(clip))).astype(np.float32)
    big = next(iter(iter_frames(res.path))).astype(np.float32)
    assert abs(small.mean() - big.mean()) < 3
