"""Fixtures for the brain: a Gemini stand-in on 127.0.0.1 and small memory states."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.memory import (CharacterState, EnvironmentState, MemoryState, TimelineEntry,
                            format_range)
from vidpipe_tests.brain.gemini_standin import GeminiStandIn

KEY = "AIzaSy-test-SECRET-key-0123456789"


@pytest.fixture
def standin(monkeypatch):
    # Nothing here may leave the machine: no proxy, no base URL from the environment.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with GeminiStandIn(KEY) as api:
        yield api


def fast_planner(api: GeminiStandIn, **overrides):
    """A GeminiPlanner against the stand-in with test-sized time limits and back-off."""
    from vidpipe.brain.gemini import GeminiPlanner

    settings = dict(base_url=api.url, timeout_s=0.5, max_retries=2, backoff_s=0.01,
                    max_backoff_s=0.05, deadline_s=10.0)
    settings.update(overrides)
    return GeminiPlanner(KEY, **settings)


def make_state(n: int = 3, seconds: float = 4.0, emotions: list[str] | None = None,
               scenes: list[str] | None = None) -> MemoryState:
    timeline = []
    for i in range(n):
        a, b = i * seconds, (i + 1) * seconds
        timeline.append(TimelineEntry(
            segment=f"s{i:04d}", timestamp_range=format_range(a, b), start_s=a, end_s=b,
            audio_segment=f"segments/s{i:04d}.wav",
            emotional_state=(emotions[i] if emotions else "calm"),
            scene_ref=(scenes[i] if scenes else "inputs/scene.png"),
            clothing_ref="inputs/garment.png"))
    return MemoryState(session_id="demo", seed=1234,
                       character_state=CharacterState(base_identity_ref="inputs/person.png",
                                                      current_clothing_ref="inputs/garment.png"),
                       environment_state=EnvironmentState(current_scene_ref="inputs/scene.png"),
                       timeline=timeline)


def scene_image(warm: bool = True, light_from: str = "left") -> np.ndarray:
    """A small synthetic room: bright, tinted on one side, a floor band, a window."""
    h, w = 96, 144
    x = np.linspace(0.0, 1.0, w)[None, :, None]
    ramp = (1.0 - x) if light_from == "left" else x
    tint = np.array([1.0, 0.82, 0.6]) if warm else np.array([0.7, 0.85, 1.0])
    img = (40 + 190 * ramp) * tint
    img = np.broadcast_to(img, (h, w, 3)).copy()
    img[int(h * 0.7):] *= 0.6
    return np.clip(img, 0, 255).astype(np.uint8)
