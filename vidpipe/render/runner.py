"""Render a whole project through Dagster, in this process, on the workspace's instance.

The order is the one the daemon follows for batch renders: analyse the project, render
every segment that is not up to date (one run each, so a failure stays in its segment),
then deliver the video once every segment is done. Runs land in the same instance the UI
shows, with the same lineage as runs started there.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from vidpipe.assets.segments import GPU_POOL
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
    worker_peak_rss_mb: float = 0.0  # the largest segment worker (they are not our children)
    stills_made_ahead: dict[str, float] = field(default_factory=dict)  # stage -> seconds

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


def _worker_init(environ: dict[str, str], ws_root: str, instance_ref,
                 backends_spec: tuple[type, dict], events, tags,
                 gemini_spec: tuple[type, dict] | None, gpu_pool: str | None) -> None:
    # The fork server keeps the environment of the render that started it; this render's
    # may differ (another workspace's DAGSTER_HOME, which dagster.yaml's storage reads).
    os.environ.clear()
    os.environ.update(environ)
    progress = QueueProgress(events) if events is not None else None
    cls, fields = backends_spec
    gemini = gemini_spec[0](**gemini_spec[1]) if gemini_spec else None
    defs = build_defs(ws_root, backends=cls(**fields), progress=progress, gemini=gemini,
                      gpu_pool=gpu_pool)
    _WORKER.update(root=ws_root, defs=defs, instance=dg.DagsterInstance.from_ref(instance_ref),
                   tags=tags)


def _worker_render(name: str, segment: str) -> tuple[tuple[str, bool, str, str], float]:
    import resource

    outcome = _render_one(_WORKER["defs"], name, segment, _WORKER["instance"], _WORKER["tags"])
    peak_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0
    return outcome, peak_mb


class QueueProgress(Progress):
    """Forwards stage events from a worker process to the parent's progress reporter."""

    def __init__(self, queue) -> None:
        self.queue = queue

    def __call__(self, event) -> None:
        self.queue.put(event)


def _resource_spec(resource: dg.ConfigurableResource) -> tuple[type, dict]:
    """Resources do not pickle; their class and field values do."""
    return type(resource), {k: getattr(resource, k) for k in type(resource).model_fields}


class SegmentWorkers:
    """Worker processes that render segments in parallel, one Dagster run each.

    Started before the project's analysis, so forking the workers and loading their models
    overlaps it. They fork from a fork server that has imported the render stack once
    (vidpipe.render.warm), instead of each importing it from scratch; forking the CLI
    process itself is avoided because it holds the instance's database connections."""

    def __init__(self, ws: Workspace, instance: dg.DagsterInstance, backends: BackendResource,
                 progress: Progress | None, tags: dict[str, str], jobs: int, gemini=None,
                 gpu_pool: str | None = GPU_POOL, stills_for: str | None = None):
        import multiprocessing
        import threading
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["vidpipe.render.warm"])
        self.progress = progress
        self.peak_rss_mb = 0.0
        self.events = ctx.Queue() if progress is not None else None
        self._stop = threading.Event()
        self._pumper = None
        if self.events is not None:
            self._pumper = threading.Thread(target=self._pump, daemon=True)
            self._pumper.start()
        initargs = (dict(os.environ), str(ws.root), instance.get_ref(),
                    _resource_spec(backends), self.events, tags,
                    _resource_spec(gemini) if gemini else None, gpu_pool)
        self.pool: ProcessPoolExecutor | None = None
        self._stills = None
        self._start_error: BaseException | None = None

        def start() -> None:
            # Starting a process waits for the fork server's imports (seconds), so it runs
            # beside the analysis instead of before it. Processes start on demand: one call
            # per worker starts them all.
            try:
                self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                                initializer=_worker_init, initargs=initargs)
                for _ in range(jobs):
                    self.pool.submit(_worker_ready)
                if stills_for:
                    self._stills = self.pool.submit(_worker_stills, stills_for)
            except BaseException as exc:  # re-raised by render()
                self._start_error = exc

        self._starter = threading.Thread(target=start, name="segment-workers", daemon=True)
        self._starter.start()

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                event = self.events.get(timeout=0.2)
            except Exception:
                continue
            self.progress(event)

    def render(self, name: str, segments: list[str]) -> list[tuple[str, bool, str, str]]:
        self._starter.join()
        if self._start_error is not None:
            raise StageError(f"segment workers did not start: {self._start_error}")
        futures = [self.pool.submit(_worker_render, name, seg) for seg in segments]
        outcomes = []
        for f in futures:
            outcome, peak_mb = f.result()
            outcomes.append(outcome)
            self.peak_rss_mb = max(self.peak_rss_mb, peak_mb)
        return outcomes

    def stills_made(self) -> dict[str, float]:
        """Seconds per stage of the stills made ahead. A failure there is not reported:
        the segment runs then make the still themselves and fail in Dagster, with the stage
        and the reason."""
        self._starter.join()
        if self._stills is None:
            return {}
        try:
            return self._stills.result()
        except Exception:
            return {}

    def close(self) -> None:
        self._starter.join()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self._stop.set()
        if self._pumper:
            self._pumper.join(2)
            while not self.events.empty():
                self.progress(self.events.get())


def _worker_stills(name: str) -> dict[str, float]:
    """Make the project's stills while the parent analyses the audio (embedded only: on
    ComfyUI they are GPU work that belongs under the Dagster pool)."""
    from vidpipe.render.embedded.backend import EmbeddedBackend
    from vidpipe.render.stills import prepare_stills
    from vidpipe.workspace import Workspace

    return prepare_stills(Workspace(Path(_WORKER["root"])).project(name), EmbeddedBackend())


def _worker_ready() -> None:
    """Load the model every segment's QA uses, while the parent analyses the audio. The
    pose model is not among them: the rig and the photos' readings are made with the stills."""
    from vidpipe.render.embedded.landmarks import _face_detection

    _face_detection()


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
    gpu_pool = stage_pool(project)
    defs = build_defs(str(ws.root), backends=backends, progress=progress, gemini=gemini,
                      gpu_pool=gpu_pool)
    tags = {"vidpipe/source": "cli"}
    instance.add_dynamic_partitions("project", [name])
    report = RenderReport(project=name, video=None)
    workers = (SegmentWorkers(ws, instance, backends, progress, tags, jobs, gemini, gpu_pool,
                              stills_for=name if project.spec.backend == "embedded" else None)
               if jobs > 1 and _worth_workers(project) else None)
    try:
        _render_all(ws, project, defs, instance, tags, report, workers, on_plan)
    finally:
        if workers is not None:
            workers.close()
            report.worker_peak_rss_mb = workers.peak_rss_mb
    report.seconds = time.perf_counter() - started
    return report


def stage_pool(project) -> str | None:
    """The GPU pool bounds what a ComfyUI server runs at once; embedded stages run on the
    CPU in as many workers as `--jobs` allows, and waiting for a GPU slot only idles them."""
    return GPU_POOL if project.spec.backend == "comfyui" else None


def _worth_workers(project) -> bool:
    """Workers pay off when two or more segments will render. That is known before the
    analysis only when the analysis is current (a re-render): then nothing stale, or one
    stale segment, renders here without them."""
    from vidpipe.cache import is_current
    from vidpipe.plan import audio_key

    try:
        if not is_current(steps.analysis_path(project), audio_key(project)):
            return True
        return sum(not p.up_to_date() for p in steps.plans(project)) >= 2
    except (StageError, OSError, ValueError):
        return True


def longest_first(plans) -> list[str]:
    """The order segments go to the workers: the render ends with its last segment, and a
    long one started last would keep one worker busy while the others idle."""
    return [p.segment for p in sorted(plans, key=lambda p: (-p.n_frames, p.segment))]


def _deliver_ahead(project, takes: list[Path]) -> None:
    """What the delivery can do before the segments are rendered. A failure here is left
    to the delivery, which does the same again and fails in Dagster with the reason."""
    from vidpipe.media.video import probe_videos

    try:
        steps.speech_step(project)
        probe_videos(takes)
    except Exception:
        pass


def _render_all(ws, project, defs, instance, tags, report, workers, on_plan) -> None:
    name = project.name

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
    # The delivery encodes the speech and probes every segment's clip: both are done now,
    # beside the segment renders, for the segments already rendered (ffmpeg runs, whose
    # waits leave the GIL free).
    ahead = threading.Thread(target=_deliver_ahead, daemon=True, args=(
        project, [p["segment_take"].path for p in plans if p not in todo]))
    ahead.start()
    try:
        if workers is not None and segments:
            order = longest_first(todo)
            done = dict(zip(order, workers.render(name, order)))
            outcomes = [done[seg] for seg in segments]
            report.stills_made_ahead = workers.stills_made()
        else:
            outcomes = [_render_one(defs, name, seg, instance, tags) for seg in segments]
    finally:
        ahead.join()  # never leave its encode half written when the render stops here
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
