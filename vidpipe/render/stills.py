"""The project's stills (scene readings, try-on, matte, depth, composite), made ahead.

They depend on the photos and the timeline only, not on the audio. The CLI has a segment
worker make them while the audio is analysed, so the segment runs find them in the cache
(content-addressed, `vidpipe.cache`) instead of starting with several seconds of work that
only one worker can do while the other waits for it. The runs still record every still's
materialization; this only moves when the pixels are computed.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe.plan import SegmentPlan, segment_plan
from vidpipe.project import Project
from vidpipe.render import steps
from vidpipe.render.base import RenderBackend

STILL_STAGES = ("tryon_image", "person_matte", "depth_map", "composite")


@dataclass(frozen=True)
class _LookSpan:
    """Enough of an audio segment for `segment_plan` to name the stills of the look in
    force at `start_s`; the still keys do not depend on the rest."""

    start_s: float
    start_sample: int = 0
    end_sample: int = 0
    first_frame: int = 0
    n_frames: int = 0
    change_at_s: float | None = None


@dataclass(frozen=True)
class _Looks:
    segments: list[_LookSpan]


def look_plans(project: Project) -> list[SegmentPlan]:
    """One plan per distinct (scene, garment) of the timeline, with the same still keys
    and paths the segments of that look get."""
    spec = project.spec
    times = [0.0] + sorted(spec.change_times)
    seen, spans = set(), []
    for t in times:
        look = spec.look_at(t)
        if look not in seen:
            seen.add(look)
            spans.append(_LookSpan(start_s=t))
    looks = _Looks(segments=spans)
    return [segment_plan(project, looks, i) for i in range(len(spans))]


def prepare_stills(project: Project, backend: RenderBackend) -> dict[str, float]:
    """Make every still the project's segments will use; returns the seconds spent per
    stage on the ones made here (empty when all were already in the cache). The segment
    runs then find them cached, so these seconds are reported from here, once."""
    steps.analyze_scenes_step(project)
    made: dict[str, float] = {}
    for plan in look_plans(project):
        for stage in STILL_STAGES:
            result = steps.SEGMENT_STEPS[stage](project, plan, backend)
            if not result.cached:
                made[stage] = made.get(stage, 0.0) + result.seconds
    return made
