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
from vidpipe.jobs import analyze_project, deliver_video, render_segment
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
    # Dagster's console logger prints every event at DEBUG; the CLI shows its own progress,
    # and the full event log is in the instance for the UI.
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
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
                   on_plan=None) -> RenderReport:
    """Render what is not up to date; `on_plan(n_segments_to_render)` lets a caller size a bar."""
    started = time.perf_counter()
    project = ws.project(name)
    backends = backends or default_backends()
    if project.spec.backend == "comfyui":
        check_comfy(backends, project.spec.comfyui)
    defs = build_defs(str(ws.root), backends=backends, progress=progress)
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
    for plan in todo:
        result = _run(defs, render_segment.name, multi_key(name, plan.segment), instance, tags)
        report.run_ids.append(result.run_id)
        if result.success:
            report.rendered.append(plan.segment)
        else:
            entry = MemoryStore(project.memory_path).read().entry(plan.segment)
            report.failed[plan.segment] = entry.reason or _failure_reason(result)

    if not report.failed:
        result = _run(defs, deliver_video.name, name, instance, tags)
        report.run_ids.append(result.run_id)
        if not result.success:
            raise StageError(f"{name}: delivery failed: {_failure_reason(result)}")
        report.video = project.video_path
    report.seconds = time.perf_counter() - started
    return report
