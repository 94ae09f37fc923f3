"""The orchestrator's loop inside a real render: Gemini (the local stand-in) plans every
segment, one segment's first take is broken and fails its evaluation, is rendered again
with adjusted arguments, and the better attempt is kept; the other segment renders once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpipe.media.video import iter_frames
from vidpipe.memory import MemoryStore
from vidpipe.project import OutputSettings
from vidpipe.qa.models import QABounds
from vidpipe.render import steps
from vidpipe.render.embedded.backend import EmbeddedBackend
from vidpipe.render.runner import render_project
from vidpipe.render.takes import attempt_dir
from vidpipe.resources.backends import BackendResource
from vidpipe.resources.gemini import GeminiResource
from vidpipe.brain.loop import attempt_seed
from vidpipe.workspace import NewProjectRequest, create_project
from vidpipe_tests.brain.conftest import KEY
from vidpipe_tests.demo_inputs import demo_files

pytestmark = pytest.mark.slow


class BlankTake(EmbeddedBackend):
    """Renders black frames for the first take of the segment starting at `first_frame`."""

    def __init__(self, broken_seed: int, first_frame: int):
        self.broken_seed, self.first_frame = broken_seed, first_frame

    def motion(self, composite_png, layers, features, out_mp4, *, seed, join_seed=None):
        if seed != self.broken_seed or features.first_frame != self.first_frame:
            return super().motion(composite_png, layers, features, out_mp4, seed=seed,
                                  join_seed=join_seed)
        from vidpipe.media.video import ClipWriter
        from vidpipe.render.embedded.layers import load_layers

        w, h = load_layers(layers).size
        with ClipWriter(out_mp4, (w, h), features.fps) as clip:
            for _ in range(features.n_frames):
                clip.write(np.zeros((h, w, 3), np.uint8))
        from vidpipe.render.base import StageFacts

        return StageFacts(info={"frames": features.n_frames})


class BlankTakeBackends(BackendResource):
    broken_seed: int
    first_frame: int

    def get(self, kind, choices=None, on_progress=None):
        return BlankTake(self.broken_seed, self.first_frame)


def test_failed_evaluation_is_retried_and_the_best_take_kept(workspace, instance, standin,
                                                             tmp_path):
    files = demo_files(tmp_path / "in")
    project = create_project(workspace, NewProjectRequest(
        name="loop", person=files["person"], garment=files["garment"], scene=files["scene"],
        audio=files["audio"], transcript=files["transcript"],
        output=OutputSettings(width=640, height=360, fps=25)))
    # At 640x360 the face is ~50 px wide: dlib identity and the mouth meter read noisier
    # than at 720p, so this small test project sets looser bounds (they are configuration).
    # Measured on this project from one attempt to the next: identity 0.45-0.52, lip-sync r
    # 0.29-0.50, mouth closed in silence 0.36-1.0 (at 720p all 9 samples with silence read
    # 100 %). What is under test is the loop; the blank take fails on its frames.
    project.spec.qa = QABounds(identity_max=0.6, lipsync_corr_min=0.2, silent_closed_min=0.3)
    project.save()
    broken = attempt_seed(project.spec.seed, "s0001", 1)
    steps.analyze_audio_step(project)  # where segment 1 starts
    first_frame = steps.plans(project)[1].first_frame
    gemini = GeminiResource(api_key=KEY, base_url=standin.url, timeout_s=5, max_retries=1,
                            backoff_s=0.01, deadline_s=20)
    report = render_project(workspace, "loop", instance, backends=BlankTakeBackends(
        broken_seed=broken, first_frame=first_frame), gemini=gemini)
    assert report.ok, report.failed

    state = MemoryStore(project.memory_path).read()
    s0, s1 = state.entry("s0000"), state.entry("s0001")
    assert s0.attempts == 1 and s1.attempts == 2, json.dumps([s0.brain, s1.brain])[:3000]
    log = s1.brain["attempt_log"]
    assert [a["attempt"] for a in log] == [1, 2]
    assert not log[0]["passed"] and any("blank" in r for r in log[0]["reasons"])
    assert log[1]["passed"] and log[1]["seed"] != log[0]["seed"]
    assert s1.brain["best_attempt"] == 2 and s1.status == "completed"
    # both attempts anchored on the original try-on and scene
    assert {a["args"]["references"]["identity"] for a in log} == {
        str(steps.plans(project)[1]["tryon_image"].path)}
    # the other segment was rendered once, with no retry
    assert not attempt_dir(project, steps.plans(project)[0], 2).exists()
    # the stand-in's plans are what the memory state holds
    assert state.planner.startswith("gemini")
    assert len(standin.requests) >= 4
    assert "gemini" in json.dumps(s1.brain["calls"])
    assert KEY not in project.memory_path.read_text()
    # the kept take is in the video: no black frames where segment 1 plays
    plan1 = steps.plans(project)[1]
    middle = plan1.first_frame + plan1.n_frames // 2
    frame = next(f for i, f in enumerate(iter_frames(report.video)) if i == middle)
    assert frame.std() > 20
    # The retry has a seed of its own, yet meets segment 0 at the join as attempt 1 would.
    # Measured on this project at 640x360: join ratio 1.75 when nothing is retried, 1.73
    # with this retry, 3.13 when the retry's seed also moved the join frames.
    from vidpipe.qa.measure import measure_project
    from vidpipe.qa.project_qa import segment_inputs

    qa = measure_project(report.video, segment_inputs(project),
                         person_photo=project.path(project.spec.inputs.person))
    assert qa.segments[1].join_ratio is not None and qa.segments[1].join_ratio <= 2.0
