"""Builds and refreshes a project's memory state from its analyses.

The offline planner's reading of each segment (action, emotion) comes from audio statistics
alone; a language-model planner can replace those fields later without changing the shape.
Statuses survive a refresh: a segment whose outputs are still current stays `completed`, a
failed one keeps its reason until it renders again.
"""

from __future__ import annotations

import time

from vidpipe.memory import (CharacterState, EnvironmentState, MemoryState, TimelineEntry,
                            format_range)
from vidpipe.plan import SegmentPlan
from vidpipe.project import Project


def describe_light(scene: dict) -> str:
    """'warm (2900 K) soft light from the left' from a SceneAnalysis dump."""
    light = scene.get("light") or {}
    parts = []
    if (k := light.get("colour_temperature_k")) is not None:
        tone = "warm" if k < 4000 else ("neutral" if k < 5500 else "cool")
        parts.append(f"{tone} ({int(round(min(k, 20000)))} K)")
    if isinstance(hardness := light.get("hardness"), (int, float)):
        parts.append("hard" if hardness > 0.5 else "soft")
    parts.append("light")
    label = light.get("label")
    if label in ("left", "right", "top"):
        parts.append(f"from the {label}")
    elif label:
        parts.append(f"from the {label}" if label == "front" else f"({label})")
    if scene.get("colour_mix"):
        parts.append("with mixed coloured sources")
    return " ".join(parts)


def describe_camera(scene: dict) -> str:
    framing = scene.get("framing") or {}
    if not framing:
        return "medium shot, eye level"
    return f"{framing.get('shot', 'medium')} shot, {framing.get('angle', 'eye level')}"


def read_segment(mean_energy: float, speech_ratio: float) -> tuple[str, str]:
    """(action, emotional_state) of a segment from its loudness and how much of it is speech."""
    if speech_ratio < 0.2:
        return "pausing, listening", "calm"
    if mean_energy > 0.7:
        return "speaking with emphasis, gesturing", "animated"
    if mean_energy > 0.45:
        return "speaking directly to camera", "engaged"
    return "speaking softly to camera", "calm"


def build_state(project: Project, analysis, scenes: dict[str, dict], plans: list[SegmentPlan],
                previous: MemoryState | None, audio_segment_paths: list[str]) -> MemoryState:
    spec = project.spec
    old = {e.segment: e for e in (previous.timeline if previous else [])}
    timeline = []
    for plan, span, wav in zip(plans, analysis.segments, audio_segment_paths):
        action, emotion = read_segment(getattr(span, "mean_energy", 0.5),
                                       getattr(span, "speech_ratio", 1.0))
        entry = TimelineEntry(segment=plan.segment,
                              timestamp_range=format_range(span.start_s, span.end_s),
                              start_s=span.start_s, end_s=span.end_s, audio_segment=wav,
                              action=action, emotional_state=emotion, scene_ref=plan.scene,
                              clothing_ref=plan.garment, updated_at=time.time())
        before = old.get(plan.segment)
        same_span = before is not None and before.timestamp_range == entry.timestamp_range
        if plan.up_to_date():
            entry.status = "completed"
        elif same_span and before.status == "failed":
            entry.status, entry.reason, entry.stage = "failed", before.reason, before.stage
        if same_span:
            entry.attempts = before.attempts
            entry.runs = before.runs
            entry.brain = dict(before.brain)
            entry.stage_seconds = dict(before.stage_seconds)
            entry.outputs = dict(before.outputs)
            entry.qa = dict(before.qa)
        timeline.append(entry)

    first_scene = plans[0].scene if plans else spec.inputs.scene
    first_garment = plans[0].garment if plans else spec.inputs.garment
    scene0 = scenes.get(first_scene, {})
    return MemoryState(
        session_id=project.name,
        seed=spec.seed,
        planner="offline",
        character_state=CharacterState(base_identity_ref=spec.inputs.person,
                                       current_clothing_ref=first_garment,
                                       emotional_state=timeline[0].emotional_state
                                       if timeline else "neutral"),
        environment_state=EnvironmentState(current_scene_ref=first_scene,
                                           lighting_condition=describe_light(scene0),
                                           camera_angle=describe_camera(scene0),
                                           mood=str(scene0.get("mood", ""))),
        scenes={rel: {"lighting_condition": describe_light(s), "camera_angle": describe_camera(s),
                      "mood": s.get("mood", "")} for rel, s in scenes.items()},
        timeline=timeline,
    )
