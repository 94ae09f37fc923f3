"""What the CLI shows: a progress bar fed by stage events, and the tables printed after."""

from __future__ import annotations

import sys

from vidpipe.memory import MemoryStore
from vidpipe.plan import SEGMENT_STAGES
from vidpipe.project import Project
from vidpipe.resources.progress import Progress, StageEvent


class ProgressBar(Progress):
    """One tick per segment stage; shows the segment and stage running now."""

    def __init__(self) -> None:
        self._bar = None

    def plan(self, n_segments: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=n_segments * len(SEGMENT_STAGES), unit="stage", file=sys.stderr,
                         dynamic_ncols=True, bar_format="{l_bar}{bar}| {n}/{total} "
                         "[{elapsed}<{remaining}] {postfix}")

    def __call__(self, event: StageEvent) -> None:
        if self._bar is None:
            return
        where = f"{event.segment} {event.stage}"
        if event.status == "started":
            self._bar.set_postfix_str(f"{where} ...")
        elif event.status in ("done", "cached", "skipped"):
            self._bar.update(1)
            self._bar.set_postfix_str(f"{where} {event.status} {event.seconds:.1f}s")
        elif event.status == "failed":
            self._bar.write(f"FAILED {where}: {event.detail}")

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()


def print_status(project: Project, out=sys.stdout) -> None:
    store = MemoryStore(project.memory_path)
    if not store.exists():
        print(f"{project.name}: not analysed yet (run `vidpipe render {project.name}`)", file=out)
        return
    state = store.read()
    header = f"{'segment':8} {'time':17} {'status':10} {'tries':>5} {'secs':>7}  scene / note"
    print(f"project {state.session_id}  seed {state.seed}  planner {state.planner}", file=out)
    print(f"light: {state.environment_state.lighting_condition}; "
          f"camera: {state.environment_state.camera_angle}", file=out)
    print(header, file=out)
    print("-" * len(header), file=out)
    for e in state.timeline:
        secs = sum(e.stage_seconds.values())
        note = e.reason if e.status == "failed" else (
            f"at {e.stage}" if e.status == "rendering" else f"{e.scene_ref} ({e.action})")
        print(f"{e.segment:8} {e.timestamp_range:17} {e.status:10} {e.attempts:5d} {secs:7.1f}  "
              f"{note}", file=out)
    counts = state.counts()
    print(", ".join(f"{v} {k}" for k, v in counts.items()), file=out)
    video = project.video_path
    print(f"video: {video if video.exists() else 'not delivered yet'}", file=out)


def print_report(project: Project, report, out=sys.stdout) -> None:
    state = MemoryStore(project.memory_path).read()
    totals: dict[str, float] = {}
    for e in state.timeline:
        if e.segment in report.rendered:
            for stage, secs in e.stage_seconds.items():
                totals[stage] = totals.get(stage, 0.0) + secs
    ahead = report.stills_made_ahead
    for stage, secs in ahead.items():
        totals[stage] = totals.get(stage, 0.0) + secs
    if totals:
        print("stage seconds (segments rendered in this run):", file=out)
        for stage in [*SEGMENT_STAGES, *(s for s in totals if s not in SEGMENT_STAGES)]:
            if stage in totals:
                note = "  (made while the audio was analysed)" if stage in ahead else ""
                print(f"  {stage:14} {totals[stage]:8.2f}{note}", file=out)
    duration = state.timeline[-1].end_s if state.timeline else 0.0
    print(f"rendered {len(report.rendered)} segment(s), {len(report.up_to_date)} already up to "
          f"date, {len(report.failed)} failed; {report.seconds:.1f} s for {duration:.1f} s of "
          f"audio", file=out)
    for seg, reason in report.failed.items():
        print(f"  {seg} FAILED: {reason}", file=out)
    if report.video:
        print(f"video: {report.video}", file=out)
    else:
        print(f"no video: fix the failures above and run `vidpipe render {project.name}` again; "
              "finished segments are kept", file=out)
