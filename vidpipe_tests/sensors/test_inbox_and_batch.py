from __future__ import annotations

import os
import shutil
import time

import dagster as dg

from vidpipe.definitions import build_defs
from vidpipe.queue import queued
from vidpipe.resources.workspace import WorkspaceResource
from vidpipe.sensors.batch import batch_render_schedule, next_runs, render_dispatch_sensor
from vidpipe.sensors.inbox import inbox_sensor, register_drops
from vidpipe_tests.demo_inputs import demo_files


def _drop(workspace, name, files, age=60.0, skip=()):
    folder = workspace.inbox_dir / name
    folder.mkdir(parents=True)
    names = {"person": "person", "garment": "garment", "scene": "scene", "audio": "speech"}
    for role, stem in names.items():
        if role in skip:
            continue
        src = files[role]
        shutil.copy(src, folder / f"{stem}{src.suffix}")
    past = time.time() - age
    for p in [folder, *folder.iterdir()]:
        os.utime(p, (past, past))
    return folder


def test_drop_is_registered_queued_and_moved(workspace, tmp_path):
    files = demo_files(tmp_path / "in")
    _drop(workspace, "drop1", files)
    registered, rejected, seen = register_drops(workspace, {})
    assert registered == ["drop1"] and rejected == {}
    assert workspace.project("drop1").spec.inputs.audio.startswith("inputs/audio-")
    assert queued(workspace) == ["drop1"]
    assert not (workspace.inbox_dir / "drop1").exists()
    assert len(list((workspace.inbox_dir / ".registered").iterdir())) == 1


def test_unsettled_and_bad_drops(workspace, tmp_path):
    files = demo_files(tmp_path / "in")
    _drop(workspace, "fresh", files, age=0.0)
    bad = _drop(workspace, "bad", files, skip=("scene",))
    registered, rejected, seen = register_drops(workspace, {})
    assert registered == [] and list(rejected) == ["bad"]
    assert "missing scene" in (bad / "REJECTED.txt").read_text()
    # not retried until the folder changes
    registered, rejected, seen = register_drops(workspace, seen)
    assert rejected == {} and (workspace.inbox_dir / "fresh").exists()


def test_sensor_adds_project_partition(workspace, instance, tmp_path):
    _drop(workspace, "viasensor", demo_files(tmp_path / "in"))
    ctx = dg.build_sensor_context(instance=instance, resources={
        "workspace": WorkspaceResource(root=str(workspace.root))})
    result = inbox_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.dynamic_partitions_requests
    assert request.partitions_def_name == "project" and list(request.partition_keys) == ["viasensor"]


def test_schedule_and_dispatch_plan_runs_for_queued_projects(workspace, instance, tmp_path):
    _drop(workspace, "batch", demo_files(tmp_path / "in"))
    register_drops(workspace, {})
    resources = {"workspace": WorkspaceResource(root=str(workspace.root))}
    requests = batch_render_schedule(dg.build_schedule_context(instance=instance,
                                                               resources=resources))
    assert [r.partition_key for r in requests] == ["batch"]
    assert next_runs(workspace, "batch") == []  # not analysed yet
    instance.add_dynamic_partitions("project", ["batch"])
    defs = build_defs(str(workspace.root))
    assert defs.resolve_job_def("analyze_project").execute_in_process(
        partition_key="batch", instance=instance).success
    runs = next_runs(workspace, "batch")
    assert len(runs) >= 2 and {r.job for r in runs} == {"render_segment"}
    assert len({r.run_key for r in runs}) == len(runs)
    sensor_out = render_dispatch_sensor(dg.build_sensor_context(instance=instance,
                                                                resources=resources))
    assert sorted(str(r.partition_key) for r in sensor_out) == sorted(
        str(r.partition_key) for r in runs)


def test_drop_settings_reach_the_project(workspace, tmp_path):
    """A drop of Mandarin speech says so in settings.yaml, as `vidpipe new --language zh`."""
    folder = _drop(workspace, "mandarin", demo_files(tmp_path / "in"), age=0.0)
    (folder / "settings.yaml").write_text("language: zh\nseed: 7\nwidth: 640\nheight: 360\n")
    past = time.time() - 60
    for p in [folder, *folder.iterdir()]:
        os.utime(p, (past, past))
    registered, rejected, _ = register_drops(workspace, {})
    assert registered == ["mandarin"] and rejected == {}
    spec = workspace.project("mandarin").spec
    assert (spec.language, spec.seed, spec.output.size, spec.output.fps) == ("zh", 7,
                                                                             (640, 360), 25)


def test_bad_drop_settings_are_rejected_naming_the_file(workspace, tmp_path):
    files = demo_files(tmp_path / "in")
    cases = {
        "unknown": ("lang: zh\n", "lang: unknown setting"),
        "language": ("language: 'chinese please'\n", "is not a language code"),
        "odd": ("width: 641\n", "must be even"),
        "list": ("- zh\n", "expected settings like 'language: zh', got a list"),
        "yaml": ("language: [zh\n", "not valid YAML"),
        "type": ("seed: lots\n", "seed: Input should be a valid integer"),
    }
    for name, (text, _) in cases.items():
        folder = _drop(workspace, name, files, age=0.0)
        (folder / "settings.yaml").write_text(text)
        past = time.time() - 60
        for p in [folder, *folder.iterdir()]:
            os.utime(p, (past, past))
    registered, rejected, _ = register_drops(workspace, {})
    assert registered == [] and sorted(rejected) == sorted(cases)
    for name, (_, expected) in cases.items():
        why = (workspace.inbox_dir / name / "REJECTED.txt").read_text()
        assert why.startswith(str(workspace.inbox_dir / name / "settings.yaml")), why
        assert expected in why, why
