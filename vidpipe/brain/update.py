"""The Update step: what the loop read, tried and kept, written into the memory state.

Each function changes a `MemoryState` in place and is meant to run inside
`MemoryStore.update`, so concurrent segment runs never lose each other's writes; the
`*_recorder` helpers wrap that for the loop's callbacks. The per-attempt log and the
planner's notes go to the timeline entry's `brain` dict when the memory model has that
field; everything else uses the fields the memory state already has.
"""

from __future__ import annotations

import time
from typing import Callable

from vidpipe.brain.loop import AttemptRecord, SegmentOutcome, SegmentPlanning
from vidpipe.brain.schemas import Answer, SceneReading
from vidpipe.memory import MemoryState, MemoryStore, TimelineEntry

NOTES_FIELD = "brain"


def planner_label(answer: Answer) -> str:
    """'gemini (gemini-2.5-pro)', 'offline', or 'offline (gemini-2.5-pro fell back)'."""
    if answer.fell_back:
        return f"offline ({answer.model} fell back)"
    return f"{answer.planner} ({answer.model})" if answer.model else answer.planner


def notes(entry: TimelineEntry) -> dict | None:
    """The entry's notes dict, or None where the memory model has no such field."""
    if NOTES_FIELD not in type(entry).model_fields:
        return None
    value = getattr(entry, NOTES_FIELD)
    if value is None:
        value = {}
        setattr(entry, NOTES_FIELD, value)
    return value


def record_scene(state: MemoryState, scene_ref: str, answer: Answer[SceneReading]) -> None:
    r = answer.reply
    state.scenes[scene_ref] = {**state.scenes.get(scene_ref, {}),
                               "lighting_condition": r.lighting_condition,
                               "camera_angle": r.camera_angle, "mood": r.mood,
                               "reading": r.model_dump(mode="json"), "planner": answer.note()}
    if state.environment_state.current_scene_ref == scene_ref:
        env = state.environment_state
        env.lighting_condition, env.camera_angle, env.mood = (r.lighting_condition,
                                                              r.camera_angle, r.mood)
    state.planner = planner_label(answer)


def stored_scene_reading(state: MemoryState, scene_ref: str) -> SceneReading | None:
    """The scene reading `record_scene` kept, if any (readings are per scene, not segment)."""
    raw = state.scenes.get(scene_ref, {}).get("reading")
    return SceneReading.model_validate(raw) if raw else None


def record_planning(state: MemoryState, planning: SegmentPlanning) -> None:
    entry = state.entry(planning.segment)
    entry.action = planning.reading.reply.action
    entry.emotional_state = planning.reading.reply.emotion
    entry.updated_at = time.time()
    if (n := notes(entry)) is not None:
        n.update({"reading": planning.reading.reply.model_dump(mode="json"),
                  "calls": {"segment": planning.reading.note(),
                            "generation": planning.draft.note()},
                  "attempt_log": []})
    state.planner = planner_label(planning.draft)


def record_attempt(state: MemoryState, segment: str, record: AttemptRecord) -> None:
    entry = state.entry(segment)
    entry.attempts = record.attempt
    entry.updated_at = time.time()
    if (n := notes(entry)) is not None:
        log = [a for a in n.get("attempt_log", []) if a.get("attempt") != record.attempt]
        n["attempt_log"] = log + [record.model_dump(mode="json")]


def record_outcome(state: MemoryState, outcome: SegmentOutcome) -> list[str]:
    """Marks the segment completed (or failed) with the best attempt's scores and outputs,
    logs what changed against the segment before, and moves the character and environment
    state on when this is the latest finished segment. Returns the changes."""
    entry = state.entry(outcome.segment)
    index = [e.segment for e in state.timeline].index(outcome.segment)
    reading = outcome.planning.reading.reply
    best = outcome.best_attempt()
    entry.action, entry.emotional_state = reading.action, reading.emotion
    entry.attempts = len(outcome.attempts)
    entry.updated_at = time.time()
    if best is not None:
        entry.qa = dict(best.qa)
        entry.outputs.update(best.outputs)
    if outcome.passed:
        entry.status, entry.reason, entry.stage = "completed", None, None
    else:
        why = "; ".join(best.reasons) if best else "every attempt failed to render"
        kept = f", attempt {best.attempt} kept" if best else ""
        entry.status = "failed"
        entry.reason = (f"did not pass evaluation in {len(outcome.attempts)} attempt(s){kept}: "
                        f"{why}")[:500]

    changes = []
    prev = state.timeline[index - 1] if index > 0 else None
    if prev is not None:
        if prev.emotional_state != entry.emotional_state:
            changes.append(f"emotion: {prev.emotional_state} -> {entry.emotional_state}")
        if prev.scene_ref != entry.scene_ref:
            changes.append(f"scene: {prev.scene_ref} -> {entry.scene_ref}")
        if prev.clothing_ref != entry.clothing_ref:
            changes.append(f"clothing: {prev.clothing_ref} -> {entry.clothing_ref}")
    if len(outcome.attempts) > 1:
        changes.append(f"kept attempt {outcome.best} of {len(outcome.attempts)}")

    later_done = any(e.status == "completed" for e in state.timeline[index + 1:])
    if not later_done:
        char, env = state.character_state, state.environment_state
        char.emotional_state = (f"{prev.emotional_state}, transitioning to {entry.emotional_state} "
                                f"in {entry.segment}" if prev is not None and
                                prev.emotional_state != entry.emotional_state
                                else entry.emotional_state)
        char.current_clothing_ref = entry.clothing_ref
        if env.current_scene_ref != entry.scene_ref:
            env.current_scene_ref = entry.scene_ref
            scene = state.scenes.get(entry.scene_ref, {})
            env.lighting_condition = scene.get("lighting_condition", env.lighting_condition)
            env.camera_angle = scene.get("camera_angle", env.camera_angle)
            env.mood = scene.get("mood", env.mood)
    if (n := notes(entry)) is not None:
        n.update({"passed": outcome.passed, "best_attempt": outcome.best, "changes": changes,
                  "args": best.args.model_dump(mode="json") if best else None,
                  "attempt_log": [a.model_dump(mode="json") for a in outcome.attempts]})
    return changes


# ---------------------------------------------------------------------------- with a store

def attempt_recorder(store: MemoryStore, segment: str) -> Callable[[AttemptRecord], None]:
    """The `record` callback of `run_segment`: each attempt lands in memory.json at once."""
    def record(rec: AttemptRecord) -> None:
        store.update(lambda state: record_attempt(state, segment, rec))

    return record


def save_outcome(store: MemoryStore, outcome: SegmentOutcome) -> tuple[MemoryState, list[str]]:
    changes: list[str] = []

    def apply(state: MemoryState) -> None:
        changes.extend(record_outcome(state, outcome))

    return store.update(apply), changes
