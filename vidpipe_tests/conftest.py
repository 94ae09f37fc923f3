"""Shared fixtures: a throw-away workspace with its own Dagster instance on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A workspace folder like the repo's (dagster.yaml, workspace.yaml), with DAGSTER_HOME
    pointing at it, so runs land in a real SQLite instance."""
    from vidpipe.workspace import Workspace

    root = tmp_path / "ws"
    root.mkdir()
    shutil.copy(REPO / "dagster.yaml", root / "dagster.yaml")
    shutil.copy(REPO / "workspace.yaml", root / "workspace.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(root))
    monkeypatch.setenv("VIDPIPE_WORKSPACE", str(root))
    return Workspace(root)


@pytest.fixture
def instance(workspace):
    import dagster as dg

    with dg.DagsterInstance.from_config(str(workspace.root)) as inst:
        yield inst
