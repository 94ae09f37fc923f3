"""A stand-in ComfyUI server per test (random free port on 127.0.0.1) and a fast client."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vidpipe_tests.render.comfyui.standin import StandIn


@pytest.fixture
def standin(tmp_path):
    server = StandIn(tmp_path / "comfy-a").start()
    yield server
    server.stop()


@pytest.fixture
def second_standin(tmp_path):
    server = StandIn(tmp_path / "comfy-b").start()
    yield server
    server.stop()


def fast_client(url: str):
    from vidpipe.render.comfyui.client import ComfyClient

    return ComfyClient(url, request_timeout_s=5, retries=2, backoff_s=0.02, poll_s=0.05,
                       quiet_poll_s=1.0)


@pytest.fixture
def client(standin):
    return fast_client(standin.url)


@pytest.fixture
def small_png(tmp_path):
    """A 40x30 image: left half red, right half blue."""
    arr = np.zeros((30, 40, 3), np.uint8)
    arr[:, :20] = (200, 30, 30)
    arr[:, 20:] = (30, 30, 200)
    path = tmp_path / "small.png"
    Image.fromarray(arr).save(path)
    return path
