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
