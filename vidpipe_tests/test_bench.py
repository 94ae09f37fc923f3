"""The bench's own measurements: CPU of a process tree, stolen CPU, uncovered wall time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from vidpipe.bench import _stolen_seconds, _uncovered, tree_cpu_seconds

BURN = ("import time\n"
        "t0 = time.process_time()\n"
        "while time.process_time() - t0 < {secs}: pass\n"
        "time.sleep({sleep})\n")


def test_tree_cpu_counts_living_grandchildren_and_reaped_children():
    me = os.getpid()
    before = tree_cpu_seconds(me)
    assert before is not None and before > 0
    # a reaped child: its seconds are in this process's cutime
    subprocess.run([sys.executable, "-c", BURN.format(secs=0.5, sleep=0)], check=True)
    reaped = tree_cpu_seconds(me)
    assert reaped - before >= 0.45
    # a living grandchild (as a segment worker under the fork server)
    burner = BURN.format(secs=0.5, sleep=30)
    grand = ("import subprocess, sys, time\n"
             f"subprocess.Popen([sys.executable, '-c', {burner!r}])\n"
             "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", grand])
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            now = tree_cpu_seconds(me)
            if now - reaped >= 0.45:
                break
            time.sleep(0.2)
        assert now - reaped >= 0.45, now - reaped
    finally:
        subprocess.run(["pkill", "-P", str(child.pid)])
        child.kill()
        child.wait()


def test_stolen_cpu_is_read_from_proc_stat():
    stolen = _stolen_seconds()
    assert stolen is not None and stolen >= 0.0


def test_wall_outside_any_run():
    assert _uncovered(0.0, 10.0, [(1.0, 3.0), (2.0, 4.0), (6.0, 7.0)]) == 10.0 - 3.0 - 1.0
    assert _uncovered(0.0, 10.0, []) == 10.0


def test_bench_project_with_longer_segments(tmp_path, monkeypatch):
    """The bench's long-segment project is the same recording with its segmentation
    setting changed, which the analysis then follows."""
    import shutil

    from vidpipe.bench import LONG_SEGMENTS, _new
    from vidpipe.workspace import Workspace
    from vidpipe_tests.conftest import REPO

    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.setenv("VIDPIPE_WORKSPACE", str(tmp_path))
    _new(tmp_path, "longseg", (640, 360), None, segmentation=LONG_SEGMENTS)
    spec = Workspace(tmp_path).project("longseg").spec
    assert spec.segmentation == LONG_SEGMENTS and spec.segmentation.target_s == 12.0
