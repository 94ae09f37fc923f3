"""The planner: the four questions the orchestrator asks, and the offline planner's answers.

A `Planner` answers each request with an `Answer` wrapping one reply model of
`vidpipe.brain.schemas`. `OfflinePlanner` answers from the statistics the request carries
(the offline scene analysis, the segment's loudness and speech share, the QA scores) and is
deterministic: the same request always gets the same reply. `GeminiPlanner`
(`vidpipe.brain.gemini`) answers the same requests with a model and falls back to this one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence, Union, runtime_checkable

import numpy as np
from pydantic import BaseModel

from vidpipe.brain.quality import DEFAULT_BOUNDS, QaBound, adjustments_for, qa_failures
from vidpipe.brain.schemas import (Answer, ControlStrengths, FocalPoint, Framing,
                                   GenerationArgs, GenerationDraft, LightSource,
                                   ReferenceImages, Review, SceneReading, SegmentReading)
from vidpipe.brain.state import read_segment as read_loudness

ImageInput = Union[str, Path, bytes, np.ndarray]  # a file, encoded bytes or RGB uint8 pixels


# ---------------------------------------------------------------------------- requests

@dataclass(frozen=True)
class SceneRequest:
    """Read a scene photo. `analysis` is the offline SceneAnalysis (as a dict)."""

    scene_ref: str
    analysis: dict
    image: ImageInput | None = None
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentRequest:
    """Read a stretch of speech. `features` may carry per-frame summaries (emphasis_mean,
    energy_peak, voiced_share); `previous_emotion` is what the segment before ended with;
    `audio` is the segment's WAV, which a model that listens is given."""

    segment: str
    start_s: float
    end_s: float
    mean_energy: float
    speech_ratio: float
    transcript: str | None = None
    previous_emotion: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    audio: str | Path | None = None
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    """Write the creative arguments of a segment from its scene and speech readings."""

    segment: str
    scene: SceneReading
    reading: SegmentReading
    references: ReferenceImages
    images: dict[str, ImageInput] = field(default_factory=dict)  # label -> reference image
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewRequest:
    """Judge one render attempt: its QA scores and, for a vision model, sampled frames
    shown next to the original references."""

    segment: str
    attempt: int
    args: GenerationArgs
    qa: dict[str, float]
    frames: Sequence[ImageInput] = ()
    images: dict[str, ImageInput] = field(default_factory=dict)  # label -> reference image
    bounds: dict[str, QaBound] = field(default_factory=lambda: dict(DEFAULT_BOUNDS))
    context: dict = field(default_factory=dict)


@runtime_checkable
class Planner(Protocol):
    name: str

    def read_scene(self, request: SceneRequest) -> Answer[SceneReading]: ...

    def read_segment(self, request: SegmentRequest) -> Answer[SegmentReading]: ...

    def draft_generation(self, request: GenerationRequest) -> Answer[GenerationDraft]: ...

    def review(self, request: ReviewRequest) -> Answer[Review]: ...


# ---------------------------------------------------------------------------- offline

def _get(d: dict, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d or d[key] is None:
            return default
        d = d[key]
    return d


def _clip01(v: float) -> float:
    return round(float(min(1.0, max(0.0, v))), 3)


def _kelvin(v) -> float:
    return float(round(min(25000.0, max(1000.0, float(v)))))


def _tone(kelvin: float) -> str:
    return "warm" if kelvin < 4000 else ("neutral" if kelvin < 5500 else "cool")


_DIRECTIONS = {"left", "right", "top", "front", "back", "below"}
_EXPRESSIONS = {
    "calm": "relaxed, gentle expression",
    "engaged": "attentive, friendly expression",
    "animated": "lively, expressive face",
    "excited": "bright, excited expression",
    "curious": "curious, raised brows",
}


def _place(x: float, y: float) -> str:
    h = "left" if x < 1 / 3 else ("right" if x > 2 / 3 else "centre")
    v = "upper" if y < 1 / 3 else ("lower" if y > 2 / 3 else "middle")
    return f"salient region, {v} {h}"


class OfflinePlanner:
    """Answers from image and audio statistics alone: no network, deterministic."""

    name = "offline"

    def _answer(self, call: str, reply: BaseModel, started: float) -> Answer:
        return Answer[type(reply)](call=call, planner=self.name, reply=reply, cost_usd=0.0,
                                   seconds=time.perf_counter() - started)

    def read_scene(self, request: SceneRequest) -> Answer[SceneReading]:
        t0 = time.perf_counter()
        a = request.analysis
        if hasattr(a, "model_dump"):
            a = a.model_dump(mode="json")
        label = _get(a, "light", "label", default="front")
        direction = label if label in _DIRECTIONS else "front"
        kelvin = _kelvin(_get(a, "light", "colour_temperature_k", default=5000.0))
        hardness = float(_get(a, "light", "hardness", default=0.3))
        strength = float(_get(a, "light", "strength", default=0.5))
        azimuth = float(_get(a, "light", "azimuth_deg", default=90.0))
        sources = [LightSource(role="key", direction=direction, azimuth_deg=round(azimuth, 1),
                               colour_temperature_k=kelvin,
                               hardness=_clip01(hardness), intensity=_clip01(0.4 + 0.6 * strength)),
                   LightSource(role="ambient", direction="front", azimuth_deg=90.0,
                               colour_temperature_k=kelvin,
                               hardness=_clip01(hardness * 0.3),
                               intensity=_clip01(1.0 - 0.6 * strength))]
        src_k = _get(a, "light", "source_temperature_k")
        if src_k is not None and abs(_kelvin(src_k) - kelvin) > 800:
            sources.append(LightSource(role="practical", direction=direction,
                                       azimuth_deg=round(azimuth, 1),
                                       colour_temperature_k=_kelvin(src_k),
                                       hardness=_clip01(hardness), intensity=0.5))
        soft = "hard" if hardness > 0.5 else "soft"
        lighting = (f"{_tone(kelvin)} ({int(round(kelvin))} K) {soft} light"
                    + ("" if direction == "front" else f" from the {direction}"))
        if _get(a, "colour_mix", default=False):
            lighting += ", mixed coloured sources"
        shot = _get(a, "framing", "shot", default="medium")
        shot = shot if shot in ("wide", "medium", "close") else "medium"
        angle = _get(a, "framing", "angle", default="eye level")
        angle = angle if angle in ("eye level", "high", "low") else "eye level"
        horizon = min(2.0, max(-1.0, float(_get(a, "framing", "horizon", default=0.5))))
        confidence = float(_get(a, "framing", "horizon_confidence", default=0.0))
        mood = str(_get(a, "mood", default="") or "neutral")
        focal = [FocalPoint(x=_clip01(p.get("x", 0.5)), y=_clip01(p.get("y", 0.5)),
                            weight=_clip01(p.get("weight", 0.5)),
                            label=_place(p.get("x", 0.5), p.get("y", 0.5)))
                 for p in (_get(a, "focal_points", default=[]) or [])]
        camera = f"{shot} shot, {angle}"
        shadow_side = {"left": "to the right", "right": "to the left", "top": "downwards"}.get(
            direction, "behind the person")
        positive = ("photo of the person from the reference image wearing the reference "
                    f"garment, standing in the scene, {mood} mood, {lighting}, shadows falling "
                    f"{shadow_side}, soft contact shadow at the feet, {camera}, photorealistic, "
                    "consistent identity")
        negative = ("floating person, halo around hair, mismatched lighting, wrong shadow "
                    "direction, extra limbs, deformed hands, blurry face, changed garment, text, "
                    "watermark")
        strengths = ControlStrengths(
            identity=0.85, scene=_clip01(0.5 + 0.2 * confidence),
            depth=_clip01(0.45 + 0.35 * confidence),
            relight=_clip01(0.3 + 0.5 * strength * max(hardness, 0.3)),
            denoise=_clip01(0.35 + 0.15 * hardness))
        reading = SceneReading(light_sources=sources, lighting_condition=lighting,
                               focal_points=focal, mood=mood,
                               framing=Framing(shot=shot, angle=angle, horizon=round(horizon, 4)),
                               camera_angle=camera, positive_prompt=positive,
                               negative_prompt=negative, strengths=strengths)
        return self._answer("scene", reading, t0)

    def read_segment(self, request: SegmentRequest) -> Answer[SegmentReading]:
        t0 = time.perf_counter()
        energy = _clip01(request.mean_energy)
        speech = _clip01(request.speech_ratio)
        action, emotion = read_loudness(energy, speech)
        # Near a threshold, keep the emotion the previous segment ended with: a reading
        # should not flip on a hair's difference in loudness.
        if request.previous_emotion and speech >= 0.2 and any(
                abs(energy - t) < 0.03 for t in (0.45, 0.7)):
            emotion = request.previous_emotion
        text = (request.transcript or "").strip()
        if speech >= 0.2 and text.endswith("!") and energy > 0.45:
            emotion = "excited"
        elif speech >= 0.2 and text.endswith("?"):
            emotion = "curious"
        emphasis = float(request.features.get("emphasis_mean", 0.0))
        gesture = 0.1 + 0.8 * energy * (0.3 + 0.7 * speech) + 0.2 * emphasis
        if speech < 0.2:
            gesture = min(gesture, 0.15)
        reading = SegmentReading(energy=energy, emotion=emotion, action=action,
                                 gesture_intensity=_clip01(gesture))
        return self._answer("segment", reading, t0)

    def draft_generation(self, request: GenerationRequest) -> Answer[GenerationDraft]:
        t0 = time.perf_counter()
        scene, reading = request.scene, request.reading
        draft = GenerationDraft(
            positive_prompt=f"{scene.positive_prompt}, {reading.emotion} expression, "
                            f"{reading.action}",
            negative_prompt=scene.negative_prompt,
            strengths=scene.strengths.model_copy(),
            gesture_intensity=reading.gesture_intensity,
            expression=_EXPRESSIONS.get(reading.emotion, f"{reading.emotion} expression"))
        return self._answer("generation", draft, t0)

    def review(self, request: ReviewRequest) -> Answer[Review]:
        t0 = time.perf_counter()
        failures = qa_failures(request.qa, request.bounds)
        review = Review(passed=not failures, reasons=[str(f) for f in failures],
                        adjustments=adjustments_for(failures))
        return self._answer("review", review, t0)
