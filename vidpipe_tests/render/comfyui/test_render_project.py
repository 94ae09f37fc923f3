"""The demo project rendered end to end with the comfyui backend, through Dagster, against
the stand-in server: same assets, partitions, memory state and final video as embedded."""

from __future__ import annotations

import dagster as dg
import pytest

from vidpipe.errors import StageError
from vidpipe.media.video import probe_video
from vidpipe.memory import MemoryStore
from vidpipe.project import OutputSettings
from vidpipe.render import steps
from vidpipe.render.runner import render_project
from vidpipe.resources.backends import BackendResource
from vidpipe.timing import total_frames
from vidpipe.workspace import NewProjectRequest, create_project
from vidpipe_tests.demo_inputs import demo_files

pytestmark = pytest.mark.slow


def _comfy_project(workspace, tmp_path, name="viacomfy"):
    files = demo_files(tmp_path / "in")
    project = create_project(workspace, NewProjectRequest(
        name=name, person=files["person"], garment=files["garment"], scene=files["scene"],
        audio=files["audio"], output=OutputSettings(width=320, height=180, fps=25)))
    project.spec.backend = "comfyui"
    project.save()
    return project


def test_demo_renders_through_comfyui_standin(workspace, instance, standin, tmp_path):
    project = _comfy_project(workspace, tmp_path)
    report = render_project(workspace, project.name, instance,
                            backends=BackendResource(comfy_urls=[standin.url]))
    assert report.ok, report.failed
    analysis = steps.load_analysis(project)
    info = probe_video(report.video)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.n_frames == total_frames(analysis.n_samples, analysis.sample_rate, 25)
    state = MemoryStore(project.memory_path).read()
    assert all(e.status == "completed" for e in state.timeline) and len(state.timeline) >= 2
    done = instance.get_materialized_partitions(dg.AssetKey("lipsync_clip"))
    assert {str(k) for k in done} == {f"{project.name}|{e.segment}" for e in state.timeline}
    assert len(standin.history) >= 7  # every stage went through the server


def test_preflight_stops_before_queueing(workspace, instance, tmp_path):
    project = _comfy_project(workspace, tmp_path, "noserver")
    with pytest.raises(StageError, match="preflight failed"):
        render_project(workspace, project.name, instance,
                       backends=BackendResource(comfy_urls=["http://127.0.0.1:9"]))
    assert not project.memory_path.exists()
