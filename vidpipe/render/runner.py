"""Render a whole project through Dagster, in this process, on the workspace's instance.

The order is the one the daemon follows for batch renders: analyse the project, render
every segment that is not up to date (one run each, so a failure stays in its segment),
then deliver the video once every segment is done. Runs land in the same instance the UI
shows, with the same lineage as runs started there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from vidpipe.definitions import build_defs, default_backends
from vidpipe.errors import StageError
from vidpipe.jobs import analyze_project, deliver_video, measure_quality, render_segment
from vidpipe.memory import MemoryStore
from vidpipe.partitions import multi_key
from vidpipe.render import steps
from vidpipe.resources.backends import BackendResource
from vidpipe.resources.progress import Progress
from vidpipe.workspace import Workspace


@dataclass
class RenderReport:
    project: str
    video: Path | None
    rendered: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    run_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and self.video is not None


def _run(defs: dg.Definitions, job: str, partition_key, instance: dg.DagsterInstance,
         tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    # Dagster's console logger prints every event at DEBUG; the CLI shows its own progress
    # and failure summary, and the full event log is in the instance for the UI.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=partition_key, instance=instance, raise_on_error=False, tags=tags,
        run_config=quiet)


def _failure_reason(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            err = event.step_failure_data.error
            cause = err.cause or err
            return f"{event.step_key}: {cause.message.strip().splitlines()[-1]}"
    return "run failed"


def _render_one(defs: dg.Definitions, name: str, segment: str, instance: dg.DagsterInstance,
                tags: dict[str, str]) -> tuple[str, bool, str, str]:
    result = _run(defs, render_segment.name, multi_key(name, segment), instance, tags)
    return segment, result.success, result.run_id, "" if result.success else _failure_reason(result)


_WORKER: dict = {}


def _worker_init(ws_root: str, instance_ref, backends_spec: tuple[type, dict], events,
                 tags, gemini_spec: tuple[type, dict] | None) -> None:
    progress = QueueProgress(events) if events is not None else None
    cls, fields = backends_spec
    gemini = gemini_spec[0](**gemini_spec[1]) if gemini_spec else None
    _WORKER.update(defs=build_defs(ws_root, backends=cls(**fields), progress=progress,
                                   gemini=gemini),
                   instance=dg.DagsterInstance.from_ref(instance_ref), tags=tags)


def _worker_render(name: str, segment: str) -> tuple[str, bool, str, str]:
    return _render_one(_WORKER["defs"], name, segment, _WORKER["instance"], _WORKER["tags"])


class QueueProgress(Progress):
    """Forwards stage events from a worker process to the parent's progress reporter."""

    def __init__(self, queue) -> None:
        self.queue = queue

    def __call__(self, event) -> None:
        self.queue.put(event)


def _resource_spec(resource: dg.ConfigurableResource) -> tuple[type, dict]:
    """Resources do not pickle; their class and field values do."""
    return type(resource), {k: getattr(resource, k) for k in type(resource).model_fields}


def _render_parallel(ws: Workspace, name: str, segments: list[str], instance: dg.DagsterInstance,
                     backends: BackendResource, progress: Progress | None, tags: dict[str, str],
                     jobs: int, gemini=None) -> list[tuple[str, bool, str, str]]:
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # forking a process running mediapipe is unsafe
    events = ctx.Queue() if progress is not None else None
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            try:
                event = events.get(timeout=0.2)
            except Exception:
                continue
            progress(event)

    pumper = threading.Thread(target=pump, daemon=True) if events is not None else None
    if pumper:
        pumper.start()
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                                 initargs=(str(ws.root), instance.get_ref(),
                                           _resource_spec(backends), events, tags,
                                           _resource_spec(gemini) if gemini else None)) as pool:
            futures = [pool.submit(_worker_render, name, seg) for seg in segments]
            return [f.result() for f in futures]
    finally:
        stop.set()
        if pumper:
            pumper.join(2)
            while events is not None and not events.empty():
                progress(events.get())


def check_comfy(backends: BackendResource, choices: dict[str, str]) -> None:
    """Preflight: stop before anything is queued when a node, model or value is missing."""
    try:
        report = backends.comfy().preflight(choices)
    except dg.Failure as exc:
        raise StageError(exc.description) from None
    if not report.ok:
        raise StageError("ComfyUI preflight failed; nothing was queued:\n" + report.table())


def render_project(ws: Workspace, name: str, instance: dg.DagsterInstance, *,
                   backends: BackendResource | None = None, progress: Progress | None = None,
                   on_plan=None, jobs: int = 1, gemini=None) -> RenderReport:
    """Render what is not up to date; `on_plan(n_segments_to_render)` lets a caller size a bar.

    `jobs` > 1 renders segments in that many worker processes at once (one Dagster run per
    segment either way)."""
    started = time.perf_counter()
    project = ws.project(name)
    backends = backends or default_backends()
    if project.spec.backend == "comfyui":
        check_comfy(backends, project.spec.comfyui)
    defs = build_defs(str(ws.root), backends=backends, progress=progress, gemini=gemini)
    tags = {"vidpipe/source": "cli"}
    instance.add_dynamic_partitions("project", [name])
    report = RenderReport(project=name, video=None)

    result = _run(defs, analyze_project.name, name, instance, tags)
    report.run_ids.append(result.run_id)
    if not result.success:
        raise StageError(f"{name}: analysis failed: {_failure_reason(result)}")

    plans = steps.plans(project)
    todo = [p for p in plans if not p.up_to_date()]
    report.up_to_date = [p.segment for p in plans if p not in todo]
    if on_plan:
        on_plan(len(todo))
    # Shared stills (try-on, matte, depth, composite) are made once even when segments run
    # in parallel: the cache holds a lock per output (vidpipe.cache.produce).
    segments = [p.segment for p in todo]
    if jobs > 1 and len(segments) > 1:
        outcomes = _render_parallel(ws, name, segments, instance, backends, progress, tags,
                                    min(jobs, len(segments)), gemini)
    else:
        outcomes = [_render_one(defs, name, seg, instance, tags) for seg in segments]
    for segment, ok, run_id, reason in outcomes:
        report.run_ids.append(run_id)
        if ok:
            report.rendered.append(segment)
        else:
            entry = MemoryStore(project.memory_path).read().entry(segment)
            report.failed[segment] = entry.reason or reason

    if not report.failed:
        result = _run(defs, deliver_video.name, name, instance, tags)
        report.run_ids.append(result.run_id)
        if not result.success:
            raise StageError(f"{name}: delivery failed: {_failure_reason(result)}")
        report.video = project.video_path
    report.seconds = time.perf_counter() - started
    return report


def measure_project_quality(ws: Workspace, name: str, instance: dg.DagsterInstance):
    """Run the video_qa asset and its checks through Dagster; returns the QA outcome."""
    from vidpipe.qa.project_qa import qa_dir

    project = ws.project(name)
    if not project.video_path.is_file():
        raise StageError(f"{name}: no video yet; run `vidpipe render {name}` first")
    defs = build_defs(str(ws.root))
    result = _run(defs, measure_quality.name, name, instance, {"vidpipe/source": "cli"})
    # Blocking checks that fail also fail the step; the measurement itself still landed.
    if not any(e.is_step_materialization for e in result.all_events):
        raise StageError(f"{name}: QA failed: {_failure_reason(result)}")
    report = qa_dir(project) / "qa.json"
    return report, result.get_asset_check_evaluations()
