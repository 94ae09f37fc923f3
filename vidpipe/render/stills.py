"""The project's stills (scene readings, try-on, matte, depth, composite), made ahead.

They depend on the photos and the timeline only, not on the audio. The CLI has a segment
worker make them while the audio is analysed, so the segment runs find them in the cache
(content-addressed, `vidpipe.cache`) instead of starting with several seconds of work that
only one worker can do while the other waits for it. The runs still record every still's
materialization; this only moves when the pixels are computed.
"""

from __future__ import annotations

from vidpipe.plan import STILL_STAGES, SegmentPlan, look_plan
from vidpipe.project import Project
from vidpipe.render import steps
from vidpipe.render.base import RenderBackend


def look_plans(project: Project) -> list[SegmentPlan]:
    """One plan per distinct (scene, garment) of the timeline, with the same still keys
    and paths the segments of that look get."""
    spec = project.spec
    looks = dict.fromkeys(spec.look_at(t) for t in [0.0] + sorted(spec.change_times))
    return [look_plan(project, scene, garment) for scene, garment in looks]


READINGS = "qa_references"  # what prepare_stills reports the photos' QA readings under


def prepare_stills(project: Project, backend: RenderBackend) -> dict[str, float]:
    """Make every still the project's segments will use, and the QA readings of the photos
    that every take is measured against; returns the seconds spent per stage on what was
    made here (empty when all was already in the cache). The segment runs then find them
    cached, so these seconds are reported from here, once."""
    from vidpipe.render.takes import reference_readings

    steps.analyze_scenes_step(project)
    made: dict[str, float] = {}
    for plan in look_plans(project):
        for stage in STILL_STAGES:
            result = steps.SEGMENT_STEPS[stage](project, plan, backend)
            if not result.cached:
                made[stage] = made.get(stage, 0.0) + result.seconds
        refs = reference_readings(project, plan)
        if not refs.cached:
            made[READINGS] = made.get(READINGS, 0.0) + refs.seconds
    return made
