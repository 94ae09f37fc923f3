"""Batch rendering of queued projects by the Dagster daemon.

The schedule starts each queued project's analysis; the dispatch sensor then launches one
run per segment that is not up to date and, once all are, the delivery run. Run keys carry
the cache keys, so a segment is launched once per version of its inputs: a failed one waits
for a backfill or re-execution from the UI instead of failing again in a loop.
"""


import os
from dataclasses import dataclass

import dagster as dg

from vidpipe.errors import VidpipeError
from vidpipe.jobs import analyze_project, deliver_video, render_segment
from vidpipe.partitions import multi_key
from vidpipe.plan import audio_key, final_key
from vidpipe.queue import dequeue, queued
from vidpipe.render import steps
from vidpipe.resources.workspace import WorkspaceResource
from vidpipe.workspace import Workspace

BATCH_CRON_ENV = "VIDPIPE_BATCH_CRON"


@dataclass(frozen=True)
class PlannedRun:
    job: str
    partition_key: str | dg.MultiPartitionKey
    run_key: str


def next_runs(ws: Workspace, name: str) -> list[PlannedRun]:
    """What a queued project needs next: segments, or delivery. Empty when it is done."""
    project = ws.project(name)
    try:
        plans = steps.plans(project)
    except VidpipeError:
        return []  # not analysed yet: the schedule starts that
    if steps.analysis_path(project).exists() and not project.memory_path.exists():
        return []
    todo = [PlannedRun(render_segment.name, multi_key(name, p.segment),
                       f"{name}|{p.segment}|{p['segment_take'].key}")
            for p in plans if not p.up_to_date()]
    if todo:
        return todo
    fkey = final_key(project, plans)
    from vidpipe.cache import is_current

    if not is_current(project.video_path, fkey):
        return [PlannedRun(deliver_video.name, name, f"{name}|final|{fkey}")]
    return []


@dg.schedule(job=analyze_project, cron_schedule=os.environ.get(BATCH_CRON_ENV, "0 2 * * *"),
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Nightly: analyse every queued project so the dispatch sensor renders "
                         "it (cron from $VIDPIPE_BATCH_CRON).")
def batch_render_schedule(context: dg.ScheduleEvaluationContext, workspace: WorkspaceResource):
    ws = workspace.workspace
    requests = []
    for name in queued(ws):
        project = ws.project(name)
        requests.append(dg.RunRequest(partition_key=name,
                                      run_key=f"{name}|analyze|{audio_key(project)}",
                                      tags={"vidpipe/batch": "true"}))
    if not requests:
        return dg.SkipReason("no queued projects")
    return requests


@dg.sensor(jobs=[render_segment, deliver_video], minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches segment and delivery runs for analysed, queued projects.")
def render_dispatch_sensor(context: dg.SensorEvaluationContext, workspace: WorkspaceResource):
    ws = workspace.workspace
    requests = []
    for name in queued(ws):
        runs = next_runs(ws, name)
        if not runs and ws.project(name).video_path.exists():
            dequeue(ws, name)
            context.log.info(f"{name}: final video is up to date; removed from the queue")
        for run in runs:
            requests.append(dg.RunRequest(job_name=run.job, partition_key=run.partition_key,
                                          run_key=run.run_key, tags={"vidpipe/batch": "true"}))
    if not requests:
        return dg.SkipReason("nothing to dispatch")
    return requests
