"""The planner over Gemini (google-genai): structured replies, retries, cost, fallback.

Every call sends the memory context and the call's material (images and audio as inline
parts) with the reply model as `response_schema`, parses the reply with that same pydantic
model, and records token usage and an estimated cost. One retry loop here covers HTTP 408,
429 and 5xx, time-outs, refused connections and replies that are not valid JSON of the
schema; the SDK's own retries are switched off so that attempts, back-off and the time limit
are counted in one place. When the attempts or the time limit run out, or an error cannot
be retried (a bad key, a bad request), the offline planner answers instead and the answer
says so in `warning`. The API key is handed to the SDK and to the redactor, nowhere else:
no message, log line or answer built here can contain it.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image
from pydantic import BaseModel, ValidationError

from vidpipe.brain.planner import (GenerationRequest, ImageInput, OfflinePlanner, Planner,
                                   ReviewRequest, SceneRequest, SegmentRequest)
from vidpipe.brain.quality import qa_failures
from vidpipe.brain.schemas import (Answer, GenerationDraft, Review, SceneReading,
                                   SegmentReading, Usage)

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

# USD per million tokens, Gemini API paid tier list prices (2025): (input, output) up to the
# threshold of prompt tokens, and above it. Thinking tokens are billed as output.
PRICES: dict[str, tuple[tuple[float, float], tuple[float, float] | None, int | None]] = {
    "gemini-2.5-pro": ((1.25, 10.0), (2.50, 15.0), 200_000),
    "gemini-2.5-flash": ((0.30, 2.50), None, None),
    "gemini-2.5-flash-lite": ((0.10, 0.40), None, None),
}


def _transient_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        found += [getattr(mod, "TimeoutException"), getattr(mod, "TransportError")]
    return tuple(found)


_TRANSIENT = _transient_errors()


def estimate_cost(model: str, usage: Usage,
                  prices: dict | None = None) -> float | None:
    """Estimated USD of a call from its tokens; None for a model without a known price."""
    prices = PRICES if prices is None else prices
    name = model.removeprefix("models/")
    key = max((k for k in prices if name == k or name.startswith(k + "-")), key=len, default=None)
    if key is None:
        return None
    low, high, threshold = prices[key]
    rate = high if high and threshold and usage.prompt_tokens > threshold else low
    out = usage.output_tokens + usage.thoughts_tokens
    return (usage.prompt_tokens * rate[0] + out * rate[1]) / 1e6


def encode_image(image: ImageInput, max_side: int = 768) -> bytes:
    """JPEG bytes of an image, at most `max_side` pixels on its long side."""
    if isinstance(image, np.ndarray):
        pil = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    elif isinstance(image, (bytes, bytearray)):
        pil = Image.open(io.BytesIO(image))
    else:
        pil = Image.open(Path(image))
    pil = pil.convert("RGB")
    pil.thumbnail((max_side, max_side), Image.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _retry_delay(exc: genai_errors.APIError) -> float | None:
    """The server's own wait hint: google.rpc.RetryInfo in the error body, or Retry-After."""
    details = exc.details if isinstance(exc.details, dict) else {}
    for item in (details.get("error", details) or {}).get("details", []) or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            m = re.fullmatch(r"([0-9.]+)s", str(item.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


class BadReply(Exception):
    """A reply that arrived but cannot be used: no candidates, no JSON, wrong schema."""


def _usage(response: types.GenerateContentResponse) -> Usage:
    u = response.usage_metadata
    if u is None:
        return Usage()
    return Usage(prompt_tokens=u.prompt_token_count or 0,
                 output_tokens=u.candidates_token_count or 0,
                 thoughts_tokens=u.thoughts_token_count or 0,
                 total_tokens=u.total_token_count or 0)


def parse_reply(response: types.GenerateContentResponse, schema: type[BaseModel]) -> BaseModel:
    if not response.candidates:
        feedback = response.prompt_feedback
        why = getattr(feedback, "block_reason", None) if feedback else None
        why = getattr(why, "value", why)
        raise BadReply(f"no candidates in the reply (prompt blocked: {why})" if why else
                       "no candidates in the reply")
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    if not text.strip():
        reason = getattr(candidate.finish_reason, "value", candidate.finish_reason)
        raise BadReply(f"empty reply (finish reason {reason})")
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "reply"
        kind = "not JSON" if first.get("type") == "json_invalid" else f"not a {schema.__name__}"
        raise BadReply(f"reply is {kind}: {where}: {first.get('msg')} "
                       f"({exc.error_count()} error(s))") from None


SYSTEM = """\
You are the orchestrator of vidpipe, a post-production pipeline that turns a person photo, a
garment photo, a scene photo and a speech recording into a lip-synced video, segment by
segment. You read the project's memory state (JSON) and the material of one question, and
answer with JSON that matches the response schema exactly, within its bounds.
Keep continuity with the memory state: the same person, the same garment, the scene's light
and camera. Every generation is anchored to the ORIGINAL try-on image and the ORIGINAL scene
photo, never to generated frames. Be concrete and technical in prompts (light direction,
colour temperature in kelvin, lens and framing); no names of real people."""


def _j(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


class GeminiPlanner:
    """Answers planner calls with a Gemini model; the offline planner answers when it can't."""

    name = "gemini"

    def __init__(self, api_key: str, *, model: str = "gemini-2.5-pro",
                 base_url: str | None = None, api_version: str = "v1beta",
                 timeout_s: float = 60.0, max_retries: int = 3, backoff_s: float = 1.0,
                 max_backoff_s: float = 30.0, deadline_s: float = 300.0,
                 temperature: float = 0.2, image_side: int = 768,
                 fallback: Planner | None = None, prices: dict | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        if not api_key:
            raise ValueError("GeminiPlanner needs an API key; use OfflinePlanner without one")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.deadline_s = deadline_s
        self.temperature = temperature
        self.image_side = image_side
        self.fallback = fallback or OfflinePlanner()
        self.prices = prices
        self._sleep = sleep
        self._secrets = (api_key,)
        # base_url None leaves google-genai to read GOOGLE_GEMINI_BASE_URL itself.
        self._client = genai.Client(api_key=api_key, http_options=types.HttpOptions(
            base_url=base_url or None, api_version=api_version,
            timeout=max(1, int(round(timeout_s * 1000))),
            retry_options=types.HttpRetryOptions(attempts=1)))

    def __repr__(self) -> str:
        return f"GeminiPlanner(model={self.model!r})"

    # ------------------------------------------------------------------ the four calls

    def read_scene(self, request: SceneRequest) -> Answer[SceneReading]:
        text = (
            "Task: read the scene photo for compositing a person into it. Identify the light "
            "sources (role, direction, azimuth, colour temperature in kelvin, hardness, "
            "intensity), the focal points, the mood and the camera framing, and write the "
            "compositing prompts (positive, negative) and control strengths for a diffusion "
            "model with IP-Adapter (identity, scene), depth ControlNet and a relighting pass.\n"
            f"Scene: {request.scene_ref}\n"
            f"Offline measurements of the same photo, to check your reading against: "
            f"{_j(request.analysis)}\n"
            f"Memory state: {_j(request.context)}")
        images = [("Scene photo (original):", request.image)] if request.image is not None else []
        return self._ask("scene", SceneReading, text, images,
                         lambda: self.fallback.read_scene(request))

    def read_segment(self, request: SegmentRequest) -> Answer[SegmentReading]:
        text = (
            f"Task: read speech segment {request.segment} "
            f"({request.start_s:.2f}-{request.end_s:.2f} s) for the person's performance: its "
            "vocal energy, the emotion, what the person does, and how much head, shoulders and "
            "hands should move.\n"
            f"Measured: mean energy {request.mean_energy:.3f} (0..1), speech share "
            f"{request.speech_ratio:.2f}, frame features {_j(request.features)}\n"
            f"Transcript: {request.transcript or '(none)'}\n"
            f"The previous segment ended with emotion: {request.previous_emotion or '(none)'}\n"
            f"Memory state: {_j(request.context)}")
        audio = [("Audio of the segment:", request.audio)] if request.audio is not None else []
        return self._ask("segment", SegmentReading, text, audio,
                         lambda: self.fallback.read_segment(request))

    def draft_generation(self, request: GenerationRequest) -> Answer[GenerationDraft]:
        text = (
            f"Task: write the generation arguments of segment {request.segment}: the prompts, "
            "the control strengths, the gesture intensity and the facial expression, so that "
            "this segment continues the previous ones.\n"
            f"Scene reading: {request.scene.model_dump_json()}\n"
            f"Segment reading: {request.reading.model_dump_json()}\n"
            f"References (always these originals): {request.references.model_dump_json()}\n"
            f"Memory state: {_j(request.context)}")
        images = [(f"Reference, {label} (original):", img) for label, img in request.images.items()]
        return self._ask("generation", GenerationDraft, text, images,
                         lambda: self.fallback.draft_generation(request))

    def review(self, request: ReviewRequest) -> Answer[Review]:
        failures = [str(f) for f in qa_failures(request.qa, request.bounds)]
        bounds = request.bounds.items()
        text = (
            f"Task: review render attempt {request.attempt} of segment {request.segment}. The "
            "first images are the original references, then frames sampled from the render. "
            "Pass it only if the person and garment match the references, the person sits in "
            "the scene lit like it, and the QA bounds hold. Otherwise list the reasons and the "
            "adjustments for the next attempt (deltas to the strengths, words to add to the "
            "prompts, keep_seed if only the strengths should change).\n"
            f"Arguments used: {request.args.model_dump_json()}\n"
            f"QA scores: {_j(request.qa)}\n"
            f"QA bounds: {_j({k: b.model_dump(exclude_none=True) for k, b in bounds})}\n"
            f"QA bounds failed: {_j(failures)}\n"
            f"Memory state: {_j(request.context)}")
        images = [(f"Reference, {label} (original):", img) for label, img in request.images.items()]
        images += [(f"Rendered frame {i + 1}:", f) for i, f in enumerate(request.frames)]
        return self._ask("review", Review, text, images, lambda: self.fallback.review(request))

    # ------------------------------------------------------------------ one call

    def _parts(self, text: str, media: list[tuple[str, object]]) -> list[types.Part]:
        parts = [types.Part.from_text(text=text)]
        for label, item in media:
            parts.append(types.Part.from_text(text=label))
            if isinstance(item, (str, Path)) and Path(item).suffix.lower() in (".wav", ".mp3",
                                                                              ".flac", ".ogg"):
                mime = {".wav": "audio/wav", ".mp3": "audio/mp3", ".flac": "audio/flac",
                        ".ogg": "audio/ogg"}[Path(item).suffix.lower()]
                parts.append(types.Part.from_bytes(data=Path(item).read_bytes(), mime_type=mime))
            else:
                parts.append(types.Part.from_bytes(data=encode_image(item, self.image_side),
                                                   mime_type="image/jpeg"))
        return parts

    def _ask(self, call: str, schema: type[BaseModel], text: str,
             media: list[tuple[str, object]], fallback: Callable[[], Answer]) -> Answer:
        started = time.monotonic()
        contents = [types.Content(role="user", parts=self._parts(text, media))]
        config = types.GenerateContentConfig(
            system_instruction=SYSTEM, temperature=self.temperature, candidate_count=1,
            response_mime_type="application/json", response_schema=schema)
        usage, errors, requests = Usage(), [], 0
        for attempt in range(1, self.max_retries + 2):
            requests += 1
            hint = None
            try:
                response = self._client.models.generate_content(
                    model=self.model, contents=contents, config=config)
            except genai_errors.APIError as exc:
                line = f"HTTP {exc.code} {exc.status or ''}: {exc.message or ''}".strip()
                retry, hint = exc.code in RETRY_STATUS, _retry_delay(exc)
            except (genai_errors.UnknownApiResponseError, json.JSONDecodeError):
                line, retry = "reply body is not JSON", True
            except _TRANSIENT as exc:
                line = (f"no reply within {self.timeout_s:g} s" if "Timeout" in type(exc).__name__
                        else f"connection failed ({type(exc).__name__})")
                retry = True
            except Exception as exc:  # noqa: BLE001 - a planner failure must not stop a render
                line, retry = f"{type(exc).__name__}: {exc}", False
            else:
                usage += _usage(response)
                try:
                    reply = parse_reply(response, schema)
                except BadReply as exc:
                    line, retry = str(exc), True
                else:
                    return Answer[schema](
                        call=call, planner=self.name, model=self.model, reply=reply,
                        requests=requests, usage=usage,
                        cost_usd=estimate_cost(self.model, usage, self.prices),
                        seconds=time.monotonic() - started,
                        errors=errors)
            errors.append(redact(line, self._secrets)[:300])
            log.info("gemini %s call, request %d failed: %s", call, attempt, errors[-1])
            if not retry or attempt > self.max_retries:
                break
            delay = min(self.max_backoff_s, hint if hint is not None
                        else self.backoff_s * 2 ** (attempt - 1) * (1 + 0.25 * random.random()))
            if time.monotonic() - started + delay + self.timeout_s > self.deadline_s:
                errors.append(f"time limit of {self.deadline_s:g} s for the call reached")
                break
            self._sleep(delay)

        answer = fallback()
        why = ("could not be retried" if not retry else
               "time limit reached" if errors[-1].startswith("time limit") else
               f"{requests} request(s) failed")
        last = errors[-2] if errors[-1].startswith("time limit") and len(errors) > 1 else errors[-1]
        warning = (f"gemini ({self.model}) {call} call fell back to the offline planner: "
                   f"{why}; last error: {last}")
        log.warning(warning)
        return answer.model_copy(update={
            "model": self.model, "requests": requests, "usage": usage,
            "cost_usd": (estimate_cost(self.model, usage, self.prices)
                         if usage.total_tokens else 0.0),
            "seconds": time.monotonic() - started, "fell_back": True, "warning": warning,
            "errors": errors})
