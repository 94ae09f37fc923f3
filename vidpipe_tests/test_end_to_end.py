"""A short project rendered through Dagster on a real instance, then looked at.

One render is shared by the checks (it is the slow part); the failure test renders its own
project with an injected failure in one segment.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from vidpipe.errors import StageError
from vidpipe.media.video import iter_frames, probe_video
from vidpipe.memory import MemoryStore
from vidpipe.project import OutputSettings
from vidpipe.render import steps
from vidpipe.render.embedded.backend import EmbeddedBackend
from vidpipe.render.embedded.layers import load_layers
from vidpipe.render.runner import render_project
from vidpipe.resources.backends import BackendResource
from vidpipe.timing import total_frames
from vidpipe.workspace import NewProjectRequest, Workspace, create_project
from vidpipe_tests.demo_inputs import demo_files

pytestmark = pytest.mark.slow
# Stages render at 640x360 as they do for the default 1280x720 (upscale_factor 2); the
# upscale is skipped here (factor 1) to keep the test fast.
OUTPUT = OutputSettings(width=640, height=360, fps=25, upscale_factor=1)


def _new_project(ws: Workspace, name: str, folder) -> None:
    files = demo_files(folder)
    create_project(ws, NewProjectRequest(name=name, person=files["person"],
                                         garment=files["garment"], scene=files["scene"],
                                         audio=files["audio"], transcript=files["transcript"],
                                         output=OUTPUT))


def _start_fork_server() -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["vidpipe.render.warm"])  # as the segment workers do
    child = ctx.Process(target=int)
    child.start()
    child.join()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    import shutil

    from vidpipe_tests.conftest import REPO

    shutil.copy(REPO / "dagster.yaml", root / "dagster.yaml")
    ws = Workspace(root)
    _new_project(ws, "e2e", tmp_path_factory.mktemp("inputs"))
    with pytest.MonkeyPatch.context() as env:
        # The fork server the segment workers come from is started under another
        # workspace's DAGSTER_HOME, as in a process that renders several workspaces in
        # turn (vidpipe eval, the bench): the workers must still write to this one.
        env.setenv("DAGSTER_HOME", str(tmp_path_factory.mktemp("other-home")))
        _start_fork_server()
        env.setenv("DAGSTER_HOME", str(root))  # as vidpipe sets it; dagster.yaml reads it
        with dg.DagsterInstance.from_config(str(root)) as instance:
            report = render_project(ws, "e2e", instance, jobs=2)  # segments in 2 processes
            yield ws, ws.project("e2e"), report, instance


def test_render_delivers_h264_aac_with_exact_duration(rendered):
    ws, project, report, _ = rendered
    assert report.ok, report.failed
    analysis = steps.load_analysis(project)
    assert 2 <= len(analysis.segments) and analysis.duration_s <= 10.5
    info = probe_video(report.video)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == (640, 360) and round(info.fps) == 25
    expected = total_frames(analysis.n_samples, analysis.sample_rate, 25)
    assert info.n_frames == expected
    assert sum(s.n_frames for s in analysis.segments) == expected
    assert abs(info.duration_s - analysis.duration_s) <= 1 / 25
    assert info.audio_duration_s is not None
    assert abs(info.audio_duration_s - analysis.duration_s) <= 1 / 25


def test_stills_made_ahead_are_the_ones_the_segments_use(rendered):
    from vidpipe.render.stills import STILL_STAGES, look_plans, prepare_stills

    _, project, _, _ = rendered
    ahead = {(st, p[st].key, p[st].path) for p in look_plans(project) for st in STILL_STAGES}
    used = {(st, p[st].key, p[st].path) for p in steps.plans(project) for st in STILL_STAGES}
    assert ahead == used and len(ahead) == len(STILL_STAGES)
    assert prepare_stills(project, EmbeddedBackend()) == {}  # all in the cache already


def test_composite_keeps_the_rig_and_the_photos_are_read_once(rendered):
    """What the segments would each have redone with the pose model is made with the
    stills: the motion rig (in the layers file) and the take QA's readings of the photos."""
    from vidpipe.render.stills import look_plans
    from vidpipe.render.takes import reference_readings

    _, project, _, _ = rendered
    for plan in look_plans(project):
        rig = load_layers(plan["composite"].path).rig
        assert rig is not None and rig["source"] == "face_mesh"
        assert reference_readings(project, plan).cached


def test_every_segment_completed_in_memory_and_in_dagster(rendered):
    ws, project, report, instance = rendered
    state = MemoryStore(project.memory_path).read()
    assert [e.status for e in state.timeline] == ["completed"] * len(state.timeline)
    # shared stills are computed once (ahead, beside the audio analysis, or by whichever
    # segment got there first) and reused by the others; their seconds are reported once
    for still in ("tryon_image", "person_matte", "depth_map", "composite"):
        assert (sum(still in e.stage_seconds for e in state.timeline)
                + (still in report.stills_made_ahead)) == 1, still
    assert all({"motion_clip", "lipsync_clip", "upscaled_clip", "segment_take"}
               <= set(e.stage_seconds)
               and set(steps.SEGMENT_STEPS) | {"segment_take"} <= set(e.outputs)
               for e in state.timeline)
    done = instance.get_materialized_partitions(dg.AssetKey("segment_take"))
    assert {str(k) for k in done} == {f"e2e|{e.segment}" for e in state.timeline}
    record = instance.fetch_materializations(dg.AssetKey("final_video"), limit=1).records[0]
    meta = record.asset_materialization.metadata
    assert "preview" in meta and meta["frames"].value == probe_video(report.video).n_frames
    # segments that share person, garment and scene share one try-on file
    tryons = {e.outputs["tryon_image"] for e in state.timeline}
    assert len(tryons) == 1


def _frames(path, every=1):
    for i, frame in enumerate(iter_frames(path)):
        if i % every == 0:
            yield i, frame


def test_person_stands_where_the_composite_put_them(rendered):
    ws, project, report, _ = rendered
    plan = steps.plans(project)[0]
    layers = load_layers(plan["composite"].path)
    import cv2

    size = (OUTPUT.width, OUTPUT.height)
    alpha = cv2.resize(layers.person[..., 3], size, interpolation=cv2.INTER_AREA) / 255.0
    shadow = cv2.resize(layers.shadow, size, interpolation=cv2.INTER_AREA)
    background = cv2.resize(layers.background, size, interpolation=cv2.INTER_AREA).astype(float)
    kernel = np.ones((25, 25), np.uint8)
    inside = cv2.erode((alpha > 0.99).astype(np.uint8), kernel) > 0
    outside = cv2.erode(((alpha < 0.01) & (shadow < 0.01)).astype(np.uint8), kernel) > 0
    assert inside.sum() > 2000 and outside.sum() > 20000
    for _, frame in _frames(report.video, every=40):
        diff = np.abs(frame.astype(float) - background).mean(axis=2)
        assert np.median(diff[outside]) < 6, "the scene changed away from the person"
        assert np.median(diff[inside]) > 20, "no person where the composite placed them"


def test_mouth_opens_with_speech_and_rests_in_silence(rendered):
    """Measured on the output frames with face landmarks (the QA's mouth meter): the lips
    part and the dark mouth cavity shows while the speech is loud; in the pauses the mouth
    is closed (the demo person smiles, so a closed mouth shows teeth, not a cavity)."""
    ws, project, report, _ = rendered
    import cv2

    from vidpipe.qa.mouth import MouthMeter, mouth_opening
    from vidpipe.render.embedded.landmarks import INNER_LIPS

    plans = steps.plans(project)
    mouth_open = np.concatenate([steps.segment_features(project, p).mouth_open for p in plans])
    voiced = np.concatenate([steps.segment_features(project, p).voiced for p in plans])
    opening, cavity = [], []
    with MouthMeter() as meter:
        for _, frame in _frames(report.video):
            pts = meter.points(frame)
            if pts is None:
                opening.append(np.nan)
                cavity.append(np.nan)
                continue
            opening.append(mouth_opening(pts))
            mask = np.zeros(frame.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(pts[INNER_LIPS]).astype(np.int32)], 1)
            grey = frame.astype(float).mean(axis=2)
            cavity.append(grey[mask > 0].mean() if mask.any() else np.nan)
    opening, cavity = np.array(opening), np.array(cavity)
    found = ~np.isnan(opening) & ~np.isnan(cavity)
    assert found.mean() > 0.9, "the face was not found on the output frames"
    speaking = found & (mouth_open > 0.5)
    silent = found & (mouth_open < 0.02) & (voiced < 0.2)
    assert speaking.sum() > 10 and silent.sum() > 10
    assert np.median(opening[speaking]) > np.median(opening[silent]) + 0.03
    assert np.median(cavity[speaking]) < np.median(cavity[silent]) - 20
    # in silence the mouth stays still
    still = np.abs(np.diff(opening))[silent[1:] & silent[:-1]]
    assert np.median(still) < 0.02


def test_rendering_again_renders_nothing(rendered):
    ws, project, report, instance = rendered
    again = render_project(ws, "e2e", instance)
    assert again.ok and again.rendered == [] and len(again.up_to_date) == len(report.rendered)


def test_a_new_delivery_copies_the_speech_encoded_by_the_first(rendered):
    """After a segment changed, the final video is joined again; the speech, which did
    not change, is not encoded again, and the video's track is that encoding, copied."""
    from vidpipe.media.video import ffmpeg_exe

    ws, project, _, _ = rendered
    speech = project.render_path("final_video", "speech", ".m4a")
    encoded_at = speech.stat().st_mtime_ns
    key = project.video_path.with_name(project.video_path.name + ".key.json")
    key.unlink()  # as when a segment's take changed
    again = steps.final_step(project)
    assert not again.cached and speech.stat().st_mtime_ns == encoded_at

    def pcm(path) -> bytes:
        import subprocess

        return subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0",
                               "-f", "s16le", "-"], capture_output=True, check=True).stdout

    track = pcm(project.video_path)
    assert len(track) > 0 and track == pcm(speech)


class FailOnce(EmbeddedBackend):
    """Embedded backend whose motion stage fails for one segment, the first time only."""

    def __init__(self, first_frame: int, marker):
        self.first_frame, self.marker = first_frame, marker

    def motion(self, composite_png, layers, features, out_mp4, *, seed, join_seed=None):
        if features.first_frame == self.first_frame and not self.marker.exists():
            self.marker.write_text("failed once")
            raise StageError("injected failure for the test")
        return super().motion(composite_png, layers, features, out_mp4, seed=seed,
                              join_seed=join_seed)


class FailingBackends(BackendResource):
    fail_first_frame: int
    marker: str

    def get(self, kind, choices=None, on_progress=None):
        from pathlib import Path

        return FailOnce(self.fail_first_frame, Path(self.marker))


def test_failed_segment_is_recorded_and_rerendered_alone(workspace, instance, tmp_path):
    _new_project(workspace, "flaky", tmp_path / "in")
    project = workspace.project("flaky")
    steps.analyze_audio_step(project)  # plain function: learn where segment 1 starts
    seg1 = steps.plans(project)[1]
    marker = tmp_path / "failed.txt"
    backends = FailingBackends(fail_first_frame=seg1.first_frame, marker=str(marker))
    failed = render_project(workspace, "flaky", instance, backends=backends)
    s0_clip = steps.plans(project)[0]["upscaled_clip"].path
    s0_mtime = s0_clip.stat().st_mtime_ns
    assert not failed.ok and list(failed.failed) == [seg1.segment]
    assert "injected failure" in failed.failed[seg1.segment]
    state = MemoryStore(project.memory_path).read()
    assert state.entry(seg1.segment).status == "failed"
    assert "motion_clip" in state.entry(seg1.segment).reason
    others = [e for e in state.timeline if e.segment != seg1.segment]
    assert all(e.status == "completed" for e in others)
    assert s0_clip.is_file() and not project.video_path.exists()

    retry = render_project(workspace, "flaky", instance, backends=backends)
    assert retry.ok and retry.rendered == [seg1.segment]
    assert s0_clip.stat().st_mtime_ns == s0_mtime
    entry = MemoryStore(project.memory_path).read().entry(seg1.segment)
    assert entry.status == "completed" and entry.runs >= 2
    keys = instance.get_materialized_partitions(dg.AssetKey("motion_clip"))
    assert f"flaky|{seg1.segment}" in {str(k) for k in keys}


def test_workers_get_the_longest_segments_first(rendered):
    from vidpipe.render.runner import longest_first

    _, project, _, _ = rendered
    plans = steps.plans(project)
    order = longest_first(plans)
    frames = {p.segment: p.n_frames for p in plans}
    assert sorted(order) == sorted(frames)
    assert [frames[s] for s in order] == sorted(frames.values(), reverse=True)


def test_report_marks_only_what_was_made_ahead(rendered):
    import io

    from vidpipe.cli_progress import print_report
    from vidpipe.render.stills import READINGS, STILL_STAGES

    _, project, report, _ = rendered
    assert set(report.stills_made_ahead) <= {*STILL_STAGES, READINGS}
    out = io.StringIO()
    print_report(project, report, out=out)
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()
             if line.startswith("  ")}
    for stage, line in lines.items():
        assert ("made while the audio was analysed" in line) == (
            stage in report.stills_made_ahead), line
    assert "segment_take" in lines


def test_project_assets_record_the_time_spent_in_vidpipe(rendered):
    """The bench tells Dagster's time from vidpipe's by `work_seconds`; the project assets
    record it as the segment stages do, covering at least the stage's own computation."""
    _, _, report, instance = rendered
    for key in ("audio_analysis", "scene_analysis", "memory_state", "final_video"):
        record = next(r for r in instance.fetch_materializations(dg.AssetKey(key), limit=50)
                      .records if r.run_id in report.run_ids)  # the first render's, not later
        meta = record.asset_materialization.metadata
        work = meta["work_seconds"].value
        if "cached" not in meta:  # memory_state: the brain's update, always done
            assert work > 0, key
        elif not meta["cached"].value:  # a cache read may take well under a millisecond
            assert work >= meta["stage_seconds"].value > 0, key
