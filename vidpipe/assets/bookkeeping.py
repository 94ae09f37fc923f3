"""Segment status in the memory state, kept in step with runs.

A segment is `rendering` while any of its stages runs, `failed` with the reason when one
raises, and `completed` when its last stage lands. Each status change is written to
memory.json and logged as an observation of the project's memory_state asset, so the
Dagster UI shows the state's history.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import dagster as dg

from vidpipe.memory import MemoryState, MemoryStore
from vidpipe.project import Project
from vidpipe.resources.progress import Progress, StageEvent

LAST_SEGMENT_STAGE = "segment_take"


def observe_memory(context: dg.AssetExecutionContext, project: str, state: MemoryState,
                   why: str) -> None:
    context.log_event(dg.AssetObservation(
        asset_key=dg.AssetKey("memory_state"), partition=project,
        metadata={"state": dg.MetadataValue.json(state.model_dump(mode="json")), "change": why,
                  **{f"segments_{k}": v for k, v in state.counts().items()}}))


@contextmanager
def tracked_stage(context: dg.AssetExecutionContext, project: Project, segment: str, stage: str,
                  progress: Progress) -> Iterator[dict]:
    """Marks the segment rendering/failed/completed around one stage; yields a dict to fill
    with 'seconds', 'path' and 'cached', and sets its 'work_s': the wall time of the block
    (cache reads and waits for a shared still included), which assets record as metadata."""
    store = MemoryStore(project.memory_path)
    if not store.exists():
        raise dg.Failure(f"{project.name}: memory_state has not been materialized yet",
                         allow_retries=False)
    entry = store.read().entry(segment)
    if entry.status != "rendering" or entry.stage != stage:
        first = entry.status != "rendering"
        state = store.set_segment(segment, status="rendering", stage=stage, reason=None,
                                  runs=entry.runs + (1 if first else 0))
        if first:
            observe_memory(context, project.name, state, f"{segment} rendering")
    progress(StageEvent(project.name, segment, stage, "started"))
    outcome: dict = {}
    started = time.perf_counter()
    try:
        yield outcome
    except Exception as exc:
        reason = f"{stage}: {type(exc).__name__}: {exc}".splitlines()[0][:500]
        state = store.set_segment(segment, status="failed", stage=stage, reason=reason)
        observe_memory(context, project.name, state, f"{segment} failed")
        progress(StageEvent(project.name, segment, stage, "failed",
                            time.perf_counter() - started, reason))
        raise
    outcome["work_s"] = time.perf_counter() - started
    done_fields: dict = {}

    def apply(state: MemoryState) -> None:
        item = state.entry(segment)
        if not outcome.get("cached"):
            item.stage_seconds[stage] = round(outcome.get("seconds", 0.0), 3)
        item.outputs[stage] = str(outcome.get("path", ""))
        if stage == LAST_SEGMENT_STAGE:
            item.status = "completed"
            item.stage = None
            item.reason = None
        item.updated_at = time.time()
        done_fields["status"] = item.status

    state = store.update(apply)
    if done_fields.get("status") == "completed":
        observe_memory(context, project.name, state, f"{segment} completed")
    progress(StageEvent(project.name, segment, stage, "cached" if outcome.get("cached") else "done",
                        outcome.get("seconds", 0.0)))
