"""A stand-in of the Gemini REST API on 127.0.0.1: POST /{version}/models/{model}:generateContent.

It speaks the wire format google-genai uses: the request's `contents[].parts[]` (text and
`inlineData`), `systemInstruction` and `generationConfig` (`responseMimeType`,
`responseSchema`); replies as `candidates[].content.parts[].text` with `usageMetadata`;
errors as `{"error": {"code", "message", "status", "details"}}`; the key in the
`x-goog-api-key` header, refused with 400 INVALID_ARGUMENT when wrong, as Google does.
Each request takes the next scripted behaviour, or the `responder`'s answer when the
script is empty; by default a valid reply for the requested schema.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

ROUTE = re.compile(r"^/(v1beta|v1)/models/([^/:]+):generateContent$")
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@dataclass
class Reply:
    """200 with the payload as the candidate's text (a dict is JSON-encoded, a str sent as is)."""

    payload: dict | str
    prompt_tokens: int = 1200
    output_tokens: int = 180
    thoughts_tokens: int = 40
    finish_reason: str = "STOP"


@dataclass
class Error:
    code: int
    message: str = "stand-in error"
    details: list = field(default_factory=list)


@dataclass
class Slow:
    """Wait, then behave like `then` (the client has usually given up by then)."""

    seconds: float
    then: object = None


@dataclass
class RawBody:
    """A body that is not JSON at all."""

    text: str
    code: int = 200


@dataclass
class NoCandidates:
    block_reason: str = "OTHER"


STANDIN_REPLIES: dict[str, dict] = {
    "SceneReading": {
        "light_sources": [{"role": "key", "direction": "left", "azimuth_deg": 170.0,
                           "colour_temperature_k": 3300.0, "hardness": 0.35, "intensity": 0.9},
                          {"role": "fill", "direction": "front", "azimuth_deg": 90.0,
                           "colour_temperature_k": 5200.0, "hardness": 0.1, "intensity": 0.3}],
        "lighting_condition": "stand-in: warm (3300 K) window light from the left",
        "focal_points": [{"x": 0.5, "y": 0.45, "weight": 1.0, "label": "the counter"}],
        "mood": "stand-in: golden hour, quiet",
        "framing": {"shot": "medium", "angle": "eye level", "horizon": 0.48},
        "camera_angle": "stand-in: medium shot, eye level, 35 mm",
        "positive_prompt": "stand-in positive prompt", "negative_prompt": "stand-in negative",
        "strengths": {"identity": 0.8, "scene": 0.6, "depth": 0.55, "relight": 0.5,
                      "denoise": 0.4}},
    "SegmentReading": {"energy": 0.62, "emotion": "stand-in joyful",
                       "action": "stand-in: leaning in, smiling", "gesture_intensity": 0.55},
    "GenerationDraft": {"positive_prompt": "stand-in draft prompt",
                        "negative_prompt": "stand-in draft negative",
                        "strengths": {"identity": 0.8, "scene": 0.6, "depth": 0.55,
                                      "relight": 0.5, "denoise": 0.4},
                        "gesture_intensity": 0.55, "expression": "stand-in warm smile"},
    "Review": {"passed": True, "reasons": [], "adjustments": {}},
}


def schema_title(body: dict) -> str:
    return body.get("generationConfig", {}).get("responseSchema", {}).get("title", "")


def request_text(body: dict) -> str:
    return "\n".join(p.get("text", "") for c in body.get("contents", [])
                     for p in c.get("parts", []))


class GeminiStandIn:
    """Run with `with GeminiStandIn(key) as api:`; `api.url` is the base URL."""

    def __init__(self, key: str = "test-key-0123456789",
                 responder: Callable[[dict], object] | None = None):
        self.key = key
        self.script: deque = deque()
        self.requests: list[dict] = []
        self.responder = responder or (lambda body: Reply(STANDIN_REPLIES[schema_title(body)]))
        self._lock = threading.Lock()
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                standin._handle(self)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # client gave up (time-outs)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def push(self, *behaviours) -> "GeminiStandIn":
        self.script.extend(behaviours)
        return self

    def __enter__(self) -> "GeminiStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ wire

    def _send(self, h, code: int, body: bytes, ctype: str = "application/json") -> None:
        try:
            h.send_response(code)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass

    def _error(self, h, code: int, message: str, details: list | None = None) -> None:
        body = {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}}
        if details:
            body["error"]["details"] = details
        self._send(h, code, json.dumps(body).encode())

    def _handle(self, h) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length", 0) or 0))
        body = json.loads(raw or b"{}")
        m = ROUTE.match(h.path)
        with self._lock:
            self.requests.append({"path": h.path, "version": m.group(1) if m else None,
                                  "model": m.group(2) if m else None,
                                  "headers": {k.lower(): v for k, v in h.headers.items()},
                                  "body": body})
            behaviour = self.script.popleft() if self.script else None
        if not m:
            return self._error(h, 404, f"no route for {h.path}")
        if h.headers.get("x-goog-api-key") != self.key:
            return self._error(h, 400, "API key not valid. Please pass a valid API key.",
                               [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                 "reason": "API_KEY_INVALID", "domain": "googleapis.com"}])
        if behaviour is None:
            behaviour = self.responder(body)
        self._behave(h, behaviour, m.group(2))

    def _behave(self, h, b, model: str) -> None:
        if isinstance(b, Slow):
            time.sleep(b.seconds)
            return self._behave(h, b.then if b.then is not None else Reply({}), model)
        if isinstance(b, Error):
            return self._error(h, b.code, b.message, b.details)
        if isinstance(b, RawBody):
            return self._send(h, b.code, b.text.encode(), "text/html")
        if isinstance(b, NoCandidates):
            return self._send(h, 200, json.dumps({
                "promptFeedback": {"blockReason": b.block_reason},
                "usageMetadata": {"promptTokenCount": 900, "totalTokenCount": 900}}).encode())
        text = b.payload if isinstance(b.payload, str) else json.dumps(b.payload)
        out = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                               "finishReason": b.finish_reason, "index": 0}],
               "usageMetadata": {"promptTokenCount": b.prompt_tokens,
                                 "candidatesTokenCount": b.output_tokens,
                                 "thoughtsTokenCount": b.thoughts_tokens,
                                 "totalTokenCount": b.prompt_tokens + b.output_tokens
                                 + b.thoughts_tokens},
               "modelVersion": model, "responseId": f"standin-{len(self.requests)}"}
        self._send(h, 200, json.dumps(out).encode())
