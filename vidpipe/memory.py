"""The memory state: what the orchestrator knows about a project, as one JSON document.

Shape from the architecture notes (section 4): session_id, character_state,
environment_state and a timeline of segments with their status, plus what the pipeline
needs (seed, attempts, stage timings, outputs). The document lives in the project folder
(`memory.json`) and is re-emitted as Dagster asset metadata every time it changes. Several
segment runs may update it at once, so every change is a locked read-modify-write.
"""

from __future__ import annotations

import fcntl
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Literal

from pydantic import BaseModel, Field

from vidpipe.storage import write_text_atomic

SegmentStatus = Literal["pending", "rendering", "completed", "failed"]


class CharacterState(BaseModel):
    base_identity_ref: str
    current_clothing_ref: str
    emotional_state: str = "neutral"


class EnvironmentState(BaseModel):
    current_scene_ref: str
    lighting_condition: str = "unknown"
    camera_angle: str = "medium shot, eye level"
    mood: str = ""


class TimelineEntry(BaseModel):
    segment: str
    timestamp_range: str
    start_s: float
    end_s: float
    audio_segment: str
    action: str = "speaking directly to camera"
    emotional_state: str = "neutral"
    scene_ref: str
    clothing_ref: str
    status: SegmentStatus = "pending"
    reason: str | None = None
    stage: str | None = None
    attempts: int = 0  # render attempts of the orchestrator's loop (the kept one is in brain)
    runs: int = 0  # Dagster runs that started rendering this segment
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    qa: dict[str, float] = Field(default_factory=dict)
    # the planner's reading, its calls and each attempt's arguments and scores
    brain: dict = Field(default_factory=dict)
    updated_at: float = 0.0


class MemoryState(BaseModel):
    schema_version: int = 1
    session_id: str
    seed: int
    planner: str = "offline"
    character_state: CharacterState
    environment_state: EnvironmentState
    scenes: dict[str, dict] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    updated_at: float = 0.0

    def entry(self, segment: str) -> TimelineEntry:
        for item in self.timeline:
            if item.segment == segment:
                return item
        raise KeyError(f"segment {segment} is not in the timeline of {self.session_id}")

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "rendering": 0, "completed": 0, "failed": 0}
        for item in self.timeline:
            out[item.status] += 1
        return out


def format_range(start_s: float, end_s: float) -> str:
    def mmss(t: float) -> str:
        m, s = divmod(t, 60.0)
        return f"{int(m):02d}:{s:05.2f}"

    return f"{mmss(start_s)}-{mmss(end_s)}"


class MemoryStore:
    """Locked access to one project's memory.json."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_path = self.path.with_suffix(".lock")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> MemoryState:
        return MemoryState.model_validate(json.loads(self.path.read_text()))

    def write(self, state: MemoryState) -> MemoryState:
        with self._locked():
            return self._write(state)

    def _write(self, state: MemoryState) -> MemoryState:
        state.updated_at = time.time()
        write_text_atomic(self.path, state.model_dump_json(indent=2))
        return state

    def update(self, change: Callable[[MemoryState], None]) -> MemoryState:
        with self._locked():
            state = self.read()
            change(state)
            return self._write(state)

    def set_segment(self, segment: str, **fields) -> MemoryState:
        def apply(state: MemoryState) -> None:
            entry = state.entry(segment)
            for k, v in fields.items():
                setattr(entry, k, v)
            entry.updated_at = time.time()

        return self.update(apply)
