"""GeminiPlanner against the local stand-in: wire shapes, retries, time-outs, bad replies,
fallback to the offline planner, cost, and the key kept out of everything it writes."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest
from PIL import Image

from vidpipe.analysis.scene import analyze_scene
from vidpipe.brain.gemini import GeminiPlanner, estimate_cost
from vidpipe.brain.planner import OfflinePlanner, SceneRequest, SegmentRequest
from vidpipe.brain.schemas import SceneReading, SegmentReading, Usage
from vidpipe_tests.brain.conftest import KEY, fast_planner, make_state, scene_image
from vidpipe_tests.brain.gemini_standin import (STANDIN_REPLIES, Error, NoCandidates, RawBody,
                                                Reply, Slow)
from vidpipe.brain.context import memory_context

SEGMENT = SegmentRequest(segment="s0001", start_s=4.0, end_s=8.0, mean_energy=0.5,
                         speech_ratio=0.9, transcript="Hello, and welcome.")


def retry_info(seconds: str) -> list:
    return [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": seconds}]


def test_scene_call_speaks_the_real_wire_format(standin):
    state = make_state(2)
    ctx = memory_context(state, None).document
    analysis = analyze_scene(scene_image()).model_dump(mode="json")
    answer = fast_planner(standin).read_scene(SceneRequest("inputs/scene.png", analysis,
                                                           scene_image(), ctx))

    assert answer.planner == "gemini" and not answer.fell_back and answer.warning is None
    assert answer.reply == SceneReading.model_validate(STANDIN_REPLIES["SceneReading"])
    (req,) = standin.requests
    assert req["path"] == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert req["headers"]["x-goog-api-key"] == KEY
    body = req["body"]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["title"] == "SceneReading"
    assert "light_sources" in config["responseSchema"]["required"]
    assert "orchestrator" in body["systemInstruction"]["parts"][0]["text"]
    parts = body["contents"][0]["parts"]
    text = parts[0]["text"]
    assert '"session_id":"demo"' in text and "colour_temperature_k" in text
    image = next(p["inlineData"] for p in parts if "inlineData" in p)
    assert image["mime_type"] == "image/jpeg"  # google-genai sends bytes URL-safe base64
    assert Image.open(io.BytesIO(base64.urlsafe_b64decode(image["data"]))).size == (144, 96)
    # usage and the cost estimate from it
    assert answer.usage == Usage(prompt_tokens=1200, output_tokens=180, thoughts_tokens=40,
                                 total_tokens=1420)
    assert answer.cost_usd == pytest.approx((1200 * 1.25 + 220 * 10.0) / 1e6)
    meta = answer.metadata()
    assert meta["scene_planner"] == "gemini" and meta["scene_model"] == "gemini-2.5-pro"
    assert meta["scene_tokens"] == 1420 and meta["scene_cost_usd"] > 0


def test_429_then_success_is_retried_with_the_servers_delay(standin):
    standin.push(Error(429, "Resource has been exhausted (e.g. check quota).",
                       retry_info("0.02s")))
    answer = fast_planner(standin).read_segment(SEGMENT)
    assert answer.planner == "gemini" and not answer.fell_back
    assert answer.reply.emotion == "stand-in joyful"
    assert answer.requests == 2 and len(standin.requests) == 2
    assert answer.errors == ["HTTP 429 RESOURCE_EXHAUSTED: Resource has been exhausted "
                             "(e.g. check quota)."]


def test_500_every_time_falls_back_with_a_warning(standin, caplog):
    standin.push(*[Error(500, "Internal error encountered.")] * 3)
    with caplog.at_level(logging.WARNING, logger="vidpipe.brain.gemini"):
        answer = fast_planner(standin, max_retries=2).read_segment(SEGMENT)
    assert len(standin.requests) == 3 and answer.requests == 3
    assert answer.planner == "offline" and answer.fell_back
    assert answer.reply == OfflinePlanner().read_segment(SEGMENT).reply
    assert "fell back to the offline planner" in answer.warning
    assert "3 request(s) failed" in answer.warning and "HTTP 500 INTERNAL" in answer.warning
    assert answer.metadata()["segment_warning"] == answer.warning
    assert answer.warning in caplog.text


def test_503_then_success(standin):
    standin.push(Error(503, "The model is overloaded."))
    answer = fast_planner(standin).read_segment(SEGMENT)
    assert answer.planner == "gemini" and answer.requests == 2


def test_time_out_is_retried(standin):
    standin.push(Slow(1.5))
    answer = fast_planner(standin, timeout_s=0.3).read_segment(SEGMENT)
    assert answer.planner == "gemini" and answer.requests == 2
    assert answer.errors == ["no reply within 0.3 s"]


def test_time_outs_until_the_end_fall_back(standin):
    standin.push(Slow(1.0), Slow(1.0))
    answer = fast_planner(standin, timeout_s=0.2, max_retries=1).read_segment(SEGMENT)
    assert answer.fell_back and answer.requests == 2
    assert "no reply within 0.2 s" in answer.warning


def test_call_time_limit_stops_the_retries(standin):
    standin.push(*[Error(503, "busy", retry_info("0.3s"))] * 5)
    answer = fast_planner(standin, max_retries=5, timeout_s=0.2, max_backoff_s=1.0,
                          deadline_s=0.6).read_segment(SEGMENT)
    assert answer.fell_back and answer.requests < 6
    assert "time limit reached" in answer.warning and "HTTP 503" in answer.warning


def test_malformed_json_is_retried_then_answered(standin):
    standin.push(Reply('{"energy": 0.6, "emotion": "cal'))
    answer = fast_planner(standin).read_segment(SEGMENT)
    assert answer.planner == "gemini" and answer.requests == 2
    assert answer.errors[0].startswith("reply is not JSON")
    # tokens of the wasted reply are counted too
    assert answer.usage.total_tokens == 2 * 1420


def test_schema_violating_json_falls_back_after_retries(standin):
    bad = dict(STANDIN_REPLIES["SegmentReading"], energy=1.7)
    missing = {"energy": 0.5, "emotion": "calm"}
    standin.push(Reply(bad), Reply(missing), Reply(bad))
    answer = fast_planner(standin).read_segment(SEGMENT)
    assert len(standin.requests) == 3 and answer.fell_back
    assert answer.reply == OfflinePlanner().read_segment(SEGMENT).reply
    assert "not a SegmentReading" in answer.warning
    assert answer.errors[0].startswith("reply is not a SegmentReading: energy")
    assert answer.errors[1].startswith("reply is not a SegmentReading: action")


def test_blocked_prompt_and_html_body_are_retried(standin):
    standin.push(NoCandidates("SAFETY"), RawBody("<html>bad gateway</html>"))
    answer = fast_planner(standin, max_retries=2).read_segment(SEGMENT)
    assert answer.planner == "gemini" and answer.requests == 3
    assert answer.errors == ["no candidates in the reply (prompt blocked: SAFETY)",
                             "reply body is not JSON"]


def test_bad_key_is_not_retried(standin):
    planner = GeminiPlanner("wrong-key", base_url=standin.url, backoff_s=0.01)
    answer = planner.read_segment(SEGMENT)
    assert len(standin.requests) == 1 and answer.fell_back
    assert "could not be retried" in answer.warning and "API key not valid" in answer.warning
    assert "wrong-key" not in answer.model_dump_json()


def test_google_gemini_base_url_is_honoured(standin, monkeypatch):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", standin.url)
    answer = GeminiPlanner(KEY, model="gemini-2.5-flash", timeout_s=2).read_segment(SEGMENT)
    assert answer.planner == "gemini" and not answer.fell_back
    assert standin.requests[0]["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert answer.cost_usd == pytest.approx((1200 * 0.30 + 220 * 2.50) / 1e6)


def test_the_key_never_leaves_the_client(standin, caplog):
    """Even a proxy that echoes the key back in its errors cannot make us write it."""
    leak = f"quota exceeded for key {KEY}"
    standin.push(Error(429, leak), Error(500, leak), Error(403, leak))
    planner = fast_planner(standin)
    with caplog.at_level(logging.DEBUG):
        answer = planner.read_segment(SEGMENT)
    assert answer.fell_back and len(answer.errors) == 3
    everything = "\n".join([answer.model_dump_json(), json.dumps(answer.metadata()),
                            json.dumps(answer.note()), caplog.text, repr(planner)])
    assert "[redacted]" in answer.warning
    assert KEY not in everything


def test_cost_estimate_prices():
    usage = Usage(prompt_tokens=300_000, output_tokens=1000, thoughts_tokens=1000,
                  total_tokens=302_000)
    assert estimate_cost("gemini-2.5-pro", usage) == pytest.approx(
        (300_000 * 2.50 + 2000 * 15.0) / 1e6)
    assert estimate_cost("models/gemini-2.5-flash-lite-preview-06-17", usage) == pytest.approx(
        (300_000 * 0.10 + 2000 * 0.40) / 1e6)
    assert estimate_cost("some-other-model", usage) is None
    assert isinstance(SegmentReading.model_json_schema(), dict)
